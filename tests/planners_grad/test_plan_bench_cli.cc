// `lucid plan-bench` as a user runs it: one JSON object per planner with the documented fields,
// a table by default, and exit 2 naming an unknown planner.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace {

struct Result {
  int status;
  std::string out;
};

Result run(const std::string& args) {
  const std::string cmd = std::string(LUCID_EXE) + " plan-bench " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  Result r{-1, ""};
  std::array<char, 4096> buf;
  while (std::fgets(buf.data(), buf.size(), p)) r.out += buf.data();
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

const char* kSmall = "model_size=1 obs_dim=5 action_dim=2 calls=3 warmup=1 threads=1";

TEST(PlanBench, PrintsOneJsonObjectPerPlanner) {
  const Result r = run(std::string("planner=dream-mpc,policy format=json ") + kSmall);
  ASSERT_EQ(r.status, 0) << r.out;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<nlohmann::json> objs;
  while (std::getline(lines, line)) objs.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(objs.size(), 2u) << r.out;
  EXPECT_EQ(objs[0]["planner"], "dream-mpc");
  EXPECT_EQ(objs[1]["planner"], "policy");
  for (const auto& j : objs) {
    for (const char* key :
         {"model_size", "params", "obs_dim", "action_dim", "median_ms", "p90_ms", "gflop_per_call", "gflops"})
      EXPECT_TRUE(j.contains(key)) << key;
    EXPECT_EQ(j["model_size"], 1);
    EXPECT_EQ(j["action_dim"], 2);
    EXPECT_GT(j["params"].get<double>(), 1e6);
    EXPECT_GT(j["median_ms"].get<double>(), 0.0);
    EXPECT_GE(j["p90_ms"].get<double>(), j["median_ms"].get<double>());
    EXPECT_GT(j["gflop_per_call"].get<double>(), 0.0);
    // The roof it reports against: measured, and the percentage is gflops over it.
    ASSERT_TRUE(j.contains("sgemm_peak_gflops") && j.contains("pct_of_peak")) << j.dump();
    EXPECT_GT(j["sgemm_peak_gflops"].get<double>(), 0.1);
    EXPECT_NEAR(j["pct_of_peak"].get<double>(),
                100.0 * j["gflops"].get<double>() / j["sgemm_peak_gflops"].get<double>(),
                1e-9 * j["pct_of_peak"].get<double>() + 1e-12);
  }
  EXPECT_EQ(objs[0]["sgemm_peak_gflops"], objs[1]["sgemm_peak_gflops"]) << "one roof per run";
  // Dream-MPC runs the policy 3 times, dynamics, reward and Q through 5 candidates: far more work.
  EXPECT_GT(objs[0]["gflop_per_call"].get<double>(), 20 * objs[1]["gflop_per_call"].get<double>());
}

TEST(PlanBench, TableByDefault) {
  const Result r = run(std::string("planner=cem num_samples=64 num_elites=8 iterations=2 ") + kSmall);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("median_ms"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\ncem "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("roof: OpenBLAS sgemm"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pct_peak"), std::string::npos) << r.out;
}

TEST(PlanBench, UnknownPlannerExitsTwoNamingIt) {
  const Result r = run(std::string("planner=teleport ") + kSmall);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("teleport"), std::string::npos) << r.out;
}

}  // namespace
