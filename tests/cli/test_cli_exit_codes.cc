// The `lucid` binary as a user meets it: help lists the subcommands; bad input exits 2 with one
// line that names the problem.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace {

struct Result {
  int status;
  std::string output;  // stdout and stderr together
};

Result run(const std::string& args) {
  const std::string cmd = std::string(LUCID_EXE) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  Result r{-1, ""};
  std::array<char, 4096> buf;
  while (std::fgets(buf.data(), buf.size(), p)) r.output += buf.data();
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

TEST(Cli, HelpListsTheFiveSubcommands) {
  const Result r = run("--help");
  EXPECT_EQ(r.status, 0);
  for (const char* sub : {"train", "eval", "plan-bench", "suite", "report"})
    EXPECT_NE(r.output.find(sub), std::string::npos) << sub << " missing from:\n" << r.output;
}

TEST(Cli, EverySubcommandHasHelp) {
  for (const char* sub : {"train", "eval", "plan-bench", "suite", "report"}) {
    const Result r = run(std::string(sub) + " --help");
    EXPECT_EQ(r.status, 0) << sub;
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << sub;
  }
}

TEST(Cli, UnknownKeyExitsTwoNamingIt) {
  const Result r = run("train not_a_key=1");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("not_a_key"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("valid keys"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << "expected one line:\n" << r.output;
}

TEST(Cli, MissingConfigFileExitsTwoNamingIt) {
  const Result r = run("train --config missing.yaml");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("missing.yaml"), std::string::npos) << r.output;
}

TEST(Cli, WrongTypeExitsTwo) {
  const Result r = run("eval episodes=many");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("episodes"), std::string::npos) << r.output;
}

TEST(Cli, UnknownSubcommandOrFlagExitsTwo) {
  EXPECT_EQ(run("fly").status, 2);
  EXPECT_EQ(run("train --no-such-flag").status, 2);
}

TEST(Cli, VersionNamesTheBackends) {
  const Result r = run("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.output.find("lucid "), std::string::npos);
  EXPECT_NE(r.output.find("CPU"), std::string::npos) << r.output;
}

}  // namespace

namespace {
TEST(Cli, UnavailableDeviceIsRefusedNotIgnored) {
  const Result r = run("eval task=cartpole-balance agent=random episodes=1 device=cuda");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("device=cuda"), std::string::npos) << r.output;
}
}  // namespace

namespace {
// enc_dim/mlp_dim/latent_dim/num_q replace the preset's widths; the count below is the layer sum
// for obs 24, action 6: encoder 24-32-32 (1,984), dynamics 38-64-64-32 (9,056), reward 38-64-64-101
// (13,477), two Q heads (26,954), policy 32-64-64-12 (7,308).
TEST(Cli, ArchitectureOverridesReachTheModel) {
  const Result small =
      run("plan-bench planner=policy model_size=1 obs_dim=24 action_dim=6 calls=1 warmup=0 "
          "enc_dim=32 mlp_dim=64 latent_dim=32 num_q=2 format=json");
  ASSERT_EQ(small.status, 0) << small.output;
  EXPECT_NE(small.output.find("\"params\":58779"), std::string::npos) << small.output;
  const Result preset =
      run("plan-bench planner=policy model_size=1 obs_dim=24 action_dim=6 calls=1 warmup=0 "
          "format=json");
  ASSERT_EQ(preset.status, 0) << preset.output;
  EXPECT_NE(preset.output.find("\"params\":1214651"), std::string::npos) << preset.output;
}

TEST(Cli, ArchitectureOverridesAreCheckedNotIgnored) {
  const Result bmpc = run("plan-bench agent=bmpc planner=policy model_size=1 calls=1 mlp_dim=64");
  EXPECT_EQ(bmpc.status, 2);
  EXPECT_NE(bmpc.output.find("mlp_dim=64"), std::string::npos) << bmpc.output;
  const Result odd = run("plan-bench planner=policy model_size=1 calls=1 latent_dim=30");
  EXPECT_EQ(odd.status, 2);
  EXPECT_NE(odd.output.find("simnorm_dim"), std::string::npos) << odd.output;
}
}  // namespace
