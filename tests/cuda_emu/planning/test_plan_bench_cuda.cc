// `lucid_emu plan-bench device=cuda`: the CLI on the emulated device reports the kernel launches
// of an MPPI call (launches_per_call, graph_launches_per_call, graph_kernels_per_call,
// launches_per_mlp_layer), replays one graph per iteration and keeps to the budget of
// <= 3 kernels per MLP layer; Dream-MPC replays a whole call as one graph; planners that run on
// the CPU only are refused with exit code 2
// rather than run on the host. Runs the real binary (LUCID_EMU_EXE) on a tiny MPPI (32 samples,
// 2 iterations) of the 1M model.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace lucid {
namespace {

struct CliRun {
  int status = -1;
  std::string output;
};

CliRun run(const std::string& args) {
  const std::string cmd =
      std::string("OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 ") + LUCID_EMU_EXE + " " + args + " 2>&1";
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), static_cast<int>(buf.size()), p)) r.output += buf.data();
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

constexpr const char* kSmall =
    "model_size=1 obs_dim=5 action_dim=2 num_samples=32 num_pi_trajs=4 num_elites=4 iterations=2 horizon=3 "
    "calls=2 warmup=1 threads=1";

TEST(PlanBenchCuda, ReportsLaunchCountsWithinTheBudget) {
  const CliRun r = run(std::string("plan-bench planner=mppi device=cuda format=json ") + kSmall);
  ASSERT_EQ(r.status, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j.at("device"), "cuda");
  EXPECT_EQ(j.at("backend"), "emulated");
  const double launches = j.at("launches_per_call").get<double>();
  const double layers = j.at("mlp_layers_per_call").get<double>();
  // 1M model: encoder 2 layers, reward / dynamics / pi / Q 3 each. encode 2 + policy rows
  // 3 x (3 + 6) + 2 iterations x (3 x 6 + 3 + 2 x 3) = 83.
  EXPECT_EQ(layers, 83.0);
  EXPECT_LE(j.at("launches_per_mlp_layer").get<double>(), 3.0);
  // Each of the 2 iterations replays its sampling + rollout as one graph (captured in warm-up).
  EXPECT_EQ(j.at("graph_launches_per_call").get<double>(), 2.0);
  const double graph_kernels = j.at("graph_kernels_per_call").get<double>();
  // Sampling 1 + rollout step 0 18 + steps 1, 2 16 each = 51 kernels per iteration's graph.
  EXPECT_EQ(graph_kernels, 2.0 * 51.0);
  EXPECT_DOUBLE_EQ(j.at("launches_per_mlp_layer").get<double>(), (launches + graph_kernels) / layers);
}

TEST(PlanBenchCuda, DreamMpcIsOneGraphLaunchPerCall) {
  const CliRun r = run(
      "plan-bench planner=dream-mpc device=cuda format=json model_size=1 obs_dim=5 action_dim=2 horizon=3 "
      "num_pi_trajs=5 iterations=1 calls=2 warmup=3 threads=1");
  ASSERT_EQ(r.status, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j.at("planner"), "dream-mpc");
  // After the warm-up (cold call, warm call, capture) the whole call replays as one graph.
  EXPECT_EQ(j.at("launches_per_call").get<double>(), 0.0);
  EXPECT_EQ(j.at("graph_launches_per_call").get<double>(), 1.0);
  // 1M model, 2 Q heads: encode 2 + prior 3 x 3 + 2 x 3 + one iteration x 2 x (3 x 6 + 3 + 2 x 3) = 71.
  EXPECT_EQ(j.at("mlp_layers_per_call").get<double>(), 71.0);
  EXPECT_GT(j.at("graph_kernels_per_call").get<double>(), 71.0);
}

TEST(PlanBenchCuda, CpuOnlyPlannersAndSubcommandsAreRefused) {
  const CliRun r = run(std::string("plan-bench planner=cem device=cuda ") + kSmall);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("cem"), std::string::npos) << r.output;
  const CliRun e = run("eval task=cartpole-balance agent=random episodes=1 device=cuda");
  EXPECT_EQ(e.status, 2) << e.output;
  EXPECT_NE(e.output.find("device=cuda"), std::string::npos) << e.output;
}

}  // namespace
}  // namespace lucid
