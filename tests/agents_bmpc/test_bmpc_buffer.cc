// Replay-buffer extra fields (BMPC's expert distributions): filled for new episodes, sampled in
// step with the observations, written back by slot, and carried through run checkpoints — also
// when the field is registered only after the checkpoint was loaded, and with the fill when an
// older checkpoint has no field record.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "lucid/agents/random_agent.h"
#include "lucid/agents/replay_buffer.h"
#include "lucid/agents/run_checkpoint.h"
#include "lucid/error.h"

namespace lucid::agents {
namespace {

constexpr int kObs = 2, kAct = 1, kH = 3;

// Observation t of episode e is (e * 1000 + t) in every component, so a sample can be traced back.
void add(ReplayBuffer& b, int episode, int length) {
  std::vector<float> obs, act(length * kAct, 0.f), rew(length, 0.f);
  for (int t = 0; t <= length; ++t)
    for (int k = 0; k < kObs; ++k) obs.push_back(static_cast<float>(episode * 1000 + t));
  b.add_episode(obs, act, rew);
}

const std::vector<float> kFill = {0.f, 1.f};  // mean 0, std 1: N(0, 1) for unplanned steps

TEST(BmpcBuffer, FieldsAreFilledSampledAndWrittenBackBySlot) {
  ReplayBuffer b(kObs, kAct, 1000, kH);
  const int f = b.add_field("expert", kFill);
  add(b, 1, 10);
  add(b, 2, 12);
  EXPECT_EQ(b.field_width(f), 2);
  EXPECT_EQ(b.episode_field(1, f).size(), 13u * 2u);
  // Mark every stored row with its observation value: field = (obs, -obs).
  for (std::int64_t e = 0; e < b.num_episodes(); ++e) {
    const auto ep = b.episode(e);
    auto rows = b.episode_field(e, f);
    for (std::int64_t t = 0; t <= ep.length; ++t) {
      rows[2 * t] = ep.obs[t * kObs];
      rows[2 * t + 1] = -ep.obs[t * kObs];
    }
  }
  Rng rng(4, 0);
  const Batch& s = b.sample(32, rng);
  ASSERT_EQ(s.fields.size(), 1u);
  ASSERT_EQ(s.fields[0].shape(), (Shape{kH + 1, 32, 2}));
  for (int t = 0; t <= kH; ++t)
    for (int r = 0; r < 32; ++r) {
      const float o = s.obs.data()[(t * 32 + r) * kObs];
      EXPECT_EQ(s.fields[0].data()[(t * 32 + r) * 2], o);
      EXPECT_EQ(s.fields[0].data()[(t * 32 + r) * 2 + 1], -o);
    }
  // A write by slot lands at exactly that observation, the episode's last one included.
  const std::int64_t last_start = b.episode(1).first_id + 12 - kH;
  b.field_row(f, last_start, kH)[0] = 77.f;
  EXPECT_EQ(b.episode_field(1, f)[2 * 12], 77.f);
  EXPECT_THROW(b.field_row(f, last_start + 1, kH), Error);  // past the episode's end
}

TEST(BmpcBuffer, FieldsRoundTripThroughRunCheckpoints) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("lucid_bmpc_buffer_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ReplayBuffer a(kObs, kAct, 1000, kH);
  add(a, 1, 6);  // before the field exists: gets the fill when it is added
  const int f = a.add_field("expert", kFill);
  add(a, 2, 7);
  for (std::int64_t e = 0; e < a.num_episodes(); ++e) {
    auto rows = a.episode_field(e, f);
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] += 0.5f * static_cast<float>(i + 10 * e);
  }
  RandomAgent agent(kAct, 1);
  write_run_checkpoint(dir / "ck.safetensors", agent, a, {{"step", "13"}});
  const RunCheckpoint ck = read_run_checkpoint(dir / "ck.safetensors");

  // Registered before loading, and after loading (the trainer's order): the same rows.
  ReplayBuffer before(kObs, kAct, 1000, kH), after(kObs, kAct, 1000, kH);
  before.add_field("expert", kFill);
  before.load_state(ck.buffer);
  after.load_state(ck.buffer);
  after.add_field("expert", kFill);
  for (std::int64_t e = 0; e < a.num_episodes(); ++e) {
    const auto ref = a.episode_field(e, f);
    const auto got_b = before.episode_field(e, 0), got_a = after.episode_field(e, 0);
    ASSERT_EQ(got_b.size(), ref.size());
    ASSERT_EQ(got_a.size(), ref.size());
    for (std::size_t i = 0; i < ref.size(); ++i) {
      EXPECT_EQ(got_b[i], ref[i]);
      EXPECT_EQ(got_a[i], ref[i]);
    }
  }
  // Identical samples, fields included.
  Rng r1(9, 0), r2(9, 0);
  const Batch& sa = a.sample(8, r1);
  const Batch& sb = after.sample(8, r2);
  for (std::int64_t i = 0; i < sa.fields[0].numel(); ++i)
    EXPECT_EQ(sa.fields[0].data()[i], sb.fields[0].data()[i]);

  // A checkpoint from before the field existed loads with the fill.
  ReplayBuffer old_writer(kObs, kAct, 1000, kH);
  add(old_writer, 3, 5);
  write_run_checkpoint(dir / "old.safetensors", agent, old_writer, {});
  ReplayBuffer reader(kObs, kAct, 1000, kH);
  reader.add_field("expert", kFill);
  reader.load_state(read_run_checkpoint(dir / "old.safetensors").buffer);
  const auto rows = reader.episode_field(0, 0);
  ASSERT_EQ(rows.size(), 6u * 2u);
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i], kFill[i % 2]);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lucid::agents
