// The trainer: a run stopped mid-way (one signal: at the end of its episode, checkpointed there;
// two: at once) and started again with the same run folder continues bit-identically (same
// episodes, same sampled batches, same returns) as a run never interrupted;
// a finished run is not repeated; the run folder has the documented files.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lucid/agents/replay_buffer.h"
#include "lucid/agents/run_checkpoint.h"
#include "lucid/agents/run_writer.h"
#include "lucid/agents/trainer.h"
#include "lucid/error.h"

namespace lucid::agents {
namespace {

// A deterministic agent with state that depends on everything the trainer must restore: it
// samples the replay buffer with its own RNG in update() and folds the batch into a checksum
// that steers its actions. Any difference after a resume (buffer, RNG offsets, agent state)
// changes the actions and so the returns. It raises SIGINT `signals` times at its
// `interrupt_after`-th act() call.
class ChecksumAgent final : public Agent {
 public:
  ChecksumAgent(int action_dim, long interrupt_after, int signals = 1)
      : action_dim_(action_dim), interrupt_after_(interrupt_after), signals_(signals) {}
  std::string name() const override { return "checksum"; }
  void reset() override {}
  std::vector<float> act(std::span<const float> obs, bool eval) override {
    if (++acts_ == interrupt_after_)
      for (int i = 0; i < signals_; ++i) std::raise(SIGINT);
    std::vector<float> a(action_dim_);
    rng_.uniform(a.data(), a.size());
    for (float& v : a) v = std::tanh(static_cast<float>(checksum_) + 4.f * (v - 0.5f));
    return a;
  }
  UpdateInfo update(ReplayBuffer& buffer) override {
    const Batch& b = buffer.sample(8, rng_);
    double s = 0;
    for (float v : b.reward.to_vector()) s += v;
    checksum_ = std::fmod(checksum_ * 0.9 + s * 1e-3, 3.0);
    return {{"checksum", static_cast<float>(checksum_)}};
  }
  AgentState state() const override {
    AgentState s;
    s.tensors.push_back({"checksum", {1}, {static_cast<float>(checksum_)}});
    char text[32];  // 17 significant digits: the double back exactly (std::to_string keeps 6 decimals)
    std::snprintf(text, sizeof text, "%.17g", checksum_);
    s.scalars["checksum"] = text;
    s.scalars["rng"] = std::to_string(rng_.offset());
    return s;
  }
  void load_state(const AgentState& s) override {
    checksum_ = std::stod(s.scalars.at("checksum"));
    rng_.set_offset(std::stoull(s.scalars.at("rng")));
  }

 private:
  int action_dim_;
  long interrupt_after_;
  int signals_;
  long acts_ = 0;
  double checksum_ = 0;
  Rng rng_{42, 3};
};

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The CSV without its timing columns (steps/s and wall time differ between runs).
std::string without_timing(const std::string& csv, int keep_columns) {
  std::stringstream in(csv), out;
  std::string line;
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::string f;
    for (int i = 0; i < keep_columns && std::getline(fields, f, ','); ++i) out << f << ",";
    out << "\n";
  }
  return out.str();
}

TrainerOptions small_run(const std::filesystem::path& dir) {
  TrainerOptions o;
  o.task = "cartpole-balance";
  o.seed = 3;
  o.steps = 2000;
  o.seed_steps = 500;
  o.eval_freq = 500;
  o.eval_episodes = 1;
  o.episode_length = 250;
  o.checkpoint_freq = 500;
  o.run_dir = dir;
  o.config_yaml = "task: cartpole-balance\n";
  o.summary = {{"task", o.task}, {"agent", "checksum"}, {"seed", o.seed}};
  o.progress_interval_s = 1e9;
  return o;
}

// The step of the run's checkpoint, from its trainer counters.
std::int64_t checkpoint_step(const std::filesystem::path& run) {
  return std::stoll(read_run_checkpoint(run / "checkpoints" / "latest.safetensors").trainer.at("step"));
}

// Runs straight through, and interrupted (`signals` SIGINTs at the 1300th act(): about step 1050,
// past the checkpoint of step 1000 and the evaluation there) then resumed; the two must log the
// same episodes and evaluations.
void expect_resume_is_bit_identical(int signals) {
  const auto root = std::filesystem::temp_directory_path() /
                    ("lucid_trainer_" + std::to_string(::getpid()) + "_" + std::to_string(signals));
  std::filesystem::remove_all(root);
  ASSERT_EQ(
      train(small_run(root / "straight"), [](int, int a) { return std::make_unique<ChecksumAgent>(a, -1); }),
      0);
  EXPECT_EQ(train(small_run(root / "resumed"),
                  [signals](int, int a) { return std::make_unique<ChecksumAgent>(a, 1300, signals); }),
            130);
  const nlohmann::json mid = RunWriter(root / "resumed").read_summary();
  EXPECT_EQ(mid["status"], "running");
  const std::int64_t kept = checkpoint_step(root / "resumed");
  const std::int64_t last = mid["last_step"].get<std::int64_t>();
  if (signals == 1) {
    // One signal: the episode in progress ran to its end and that boundary was checkpointed, so
    // the stop lost nothing (no logged row follows the checkpoint).
    EXPECT_EQ(kept, last);
    EXPECT_EQ(kept % 250, 0);
    EXPECT_NE(kept % 500, 0) << "the stop's boundary is not one the regular checkpoints also hit";
  } else {
    // Two: stopped at once; the regular checkpoint before it is kept.
    EXPECT_EQ(kept % 500, 0);
    EXPECT_LE(kept, last);
  }
  ASSERT_EQ(
      train(small_run(root / "resumed"), [](int, int a) { return std::make_unique<ChecksumAgent>(a, -1); }),
      0);

  for (auto [file, cols] : {std::pair{"train.csv", 4}, std::pair{"eval.csv", 4}}) {
    const std::string a = without_timing(read(root / "straight" / file), cols);
    const std::string b = without_timing(read(root / "resumed" / file), cols);
    EXPECT_EQ(a, b) << file << " differs after resume";
    EXPECT_GT(std::count(a.begin(), a.end(), '\n'), 4) << file;
  }
  const nlohmann::json done = RunWriter(root / "resumed").read_summary();
  EXPECT_EQ(done["status"], "finished");
  EXPECT_EQ(done["last_step"], 2000);
  EXPECT_EQ(done["final_eval_return"], RunWriter(root / "straight").read_summary()["final_eval_return"]);
  for (const char* f :
       {"config.yaml", "train.csv", "eval.csv", "summary.json", "checkpoints/latest.safetensors"})
    EXPECT_TRUE(std::filesystem::exists(root / "resumed" / f)) << f;

  // A finished run is not repeated: its files stay as they are.
  const auto before = std::filesystem::last_write_time(root / "resumed" / "train.csv");
  EXPECT_EQ(
      train(small_run(root / "resumed"), [](int, int a) { return std::make_unique<ChecksumAgent>(a, -1); }),
      0);
  EXPECT_EQ(std::filesystem::last_write_time(root / "resumed" / "train.csv"), before);
  std::filesystem::remove_all(root);
}

TEST(Trainer, StopFinishesTheEpisodeCheckpointsItAndResumesBitIdentically) {
  expect_resume_is_bit_identical(1);
}

TEST(Trainer, SecondSignalStopsAtOnceAndResumesFromTheLastCheckpoint) { expect_resume_is_bit_identical(2); }

TEST(Trainer, CorruptCheckpointIsRefusedAndKept) {
  const auto root =
      std::filesystem::temp_directory_path() / ("lucid_trainer_bad_" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  EXPECT_EQ(train(small_run(root), [](int, int a) { return std::make_unique<ChecksumAgent>(a, 900); }), 130);
  const auto ckpt = root / "checkpoints" / "latest.safetensors";
  const auto size = std::filesystem::file_size(ckpt);
  std::filesystem::resize_file(ckpt, size / 2);  // a torn file, as a full disk would leave
  EXPECT_THROW(train(small_run(root), [](int, int a) { return std::make_unique<ChecksumAgent>(a, -1); }),
               IoError);
  EXPECT_EQ(std::filesystem::file_size(ckpt), size / 2)
      << "the trainer must not overwrite what it cannot read";
  std::filesystem::remove_all(root);
}

TEST(RunWriter, TruncateAfterDropsLaterAndTornRows) {
  const auto dir = std::filesystem::temp_directory_path() / ("lucid_runwriter_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  RunWriter w(dir);
  w.log_train(500, 1, 10.0, 500, 100.0, 1.0);
  w.log_train(1000, 2, 20.0, 500, 100.0, 2.0);
  w.log_train(1500, 3, 30.0, 500, 100.0, 3.0);
  { std::ofstream(dir / "train.csv", std::ios::app) << "2000,4,4"; }  // torn last row
  w.truncate_after(1000);
  EXPECT_EQ(read(dir / "train.csv"),
            "step,episode,return,length,steps_per_s,wall_time_s\n500,1,10,500,100,1.000\n1000,2,20,500,100,2."
            "000\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lucid::agents

namespace lucid::agents {
namespace {

// Counts act() and update() calls into counters that outlive the agent (the trainer owns it).
struct Counts {
  long acts = 0, updates = 0, transitions_at_first_update = -1;
};
class CountingAgent final : public Agent {
 public:
  CountingAgent(int action_dim, Counts& counts) : action_dim_(action_dim), counts_(counts) {}
  std::string name() const override { return "counting"; }
  void reset() override {}
  std::vector<float> act(std::span<const float>, bool) override {
    ++counts_.acts;
    return std::vector<float>(action_dim_, 0.f);
  }
  UpdateInfo update(ReplayBuffer& buffer) override {
    if (counts_.updates++ == 0) counts_.transitions_at_first_update = buffer.num_transitions();
    return {};
  }
  AgentState state() const override { return {}; }
  void load_state(const AgentState&) override {}

 private:
  int action_dim_;
  Counts& counts_;
};

TEST(Trainer, SeedStepsThenPretrainingBurstThenOneUpdatePerStep) {
  const auto root =
      std::filesystem::temp_directory_path() / ("lucid_trainer_count_" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  TrainerOptions o = small_run(root);
  o.steps = 1000;
  o.seed_steps = 300;  // not an episode boundary (episodes are 250 steps)
  o.eval_freq = 1000;
  Counts counts;
  ASSERT_EQ(train(o, [&](int, int a) { return std::make_unique<CountingAgent>(a, counts); }), 0);
  // Random actions up to and including step 300 (TD-MPC2: the agent acts when step > seed_steps);
  // plus one evaluation episode (250 steps) at step 0 and one at step 1000.
  EXPECT_EQ(counts.acts, (1000 - 301) + 2 * 250);
  // Steps 300..999 update: the first round is the burst of seed_steps updates, then one per step.
  EXPECT_EQ(counts.updates, 300 + 699);
  EXPECT_EQ(counts.transitions_at_first_update, 250) << "the burst runs on the seed data already stored";
  std::filesystem::remove_all(root);
}

// steps that are not a whole number of episodes: the run ends with the episode in progress, says
// so up front, counts its progress against that step, and reports the steps it ran.
TEST(Trainer, StepsRoundUpToTheEpisodeInProgressAndSaySo) {
  const auto root =
      std::filesystem::temp_directory_path() / ("lucid_trainer_round_" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  TrainerOptions o = small_run(root);
  o.steps = 600;  // episodes are 250 steps: ends at 750
  o.seed_steps = 250;
  o.eval_freq = 10000;
  o.progress_interval_s = 0;  // a progress line at every step
  Counts counts;
  ::testing::internal::CaptureStderr();
  const int rc = train(o, [&](int, int a) { return std::make_unique<CountingAgent>(a, counts); });
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(rc, 0) << err;
  EXPECT_NE(err.find("steps=600 is not a whole number of 250-step episodes"), std::string::npos) << err;
  EXPECT_NE(err.find("step 750/750 (100.0%)"), std::string::npos) << err;
  EXPECT_EQ(err.find("/600 "), std::string::npos) << "progress counted against the requested 600";
  EXPECT_NE(err.find("finished 750 steps"), std::string::npos) << err;
  const std::string summary = read(root / "summary.json");
  EXPECT_NE(summary.find("\"last_step\": 750"), std::string::npos) << summary;
  EXPECT_NE(summary.find("\"planned_steps\": 750"), std::string::npos) << summary;
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace lucid::agents
