// Checkpoints: params + Adam moments/step + RNG positions + metadata survive a round trip and
// resume the exact trajectory; mismatched or corrupt files are refused without touching state.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "lucid/engine/checkpoint.h"
#include "lucid/engine/safetensors.h"
#include "lucid/error.h"

namespace {

namespace fs = std::filesystem;
using lucid::Adam;
using lucid::ArenaView;
using lucid::CheckpointState;
using lucid::Rng;

// A two-layer "model": w1 [3, 2], b1 [3], w2 [1, 3] in one arena of 12 floats.
const std::vector<ArenaView> kViews = {
    {"l1.weight", 0, {3, 2}}, {"l1.bias", 6, {3}}, {"l2.weight", 9, {1, 3}}};

struct Model {
  std::vector<float> params = std::vector<float>(12);
  Adam adam{12, {}, lucid::AdamOptions{.lr = 0.05f}};
  Rng rng{7, 2};
  CheckpointState state() { return CheckpointState{params, kViews, &adam, {{"policy", &rng}}}; }
  // A deterministic "training step": grads drawn from the RNG.
  void train_step() {
    std::vector<float> g(12);
    rng.normal(g.data(), g.size());
    adam.step(params, g);
  }
};

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lucid_ckpt_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CheckpointTest, ResumedRunContinuesTheSameTrajectory) {
  Model a;
  std::iota(a.params.begin(), a.params.end(), -3.0f);
  for (int i = 0; i < 3; ++i) a.train_step();
  const fs::path p = dir_ / "step3.safetensors";
  lucid::save_checkpoint(p, a.state(), {{"task", "cartpole-swingup"}});

  Model b;
  b.rng = Rng(0);  // different stream: load must restore seed, stream and offset
  CheckpointState sb = b.state();
  const auto meta = lucid::load_checkpoint(p, sb);
  EXPECT_EQ(meta, (std::map<std::string, std::string>{{"task", "cartpole-swingup"}}));
  EXPECT_EQ(b.params, a.params);
  EXPECT_EQ(b.adam.step_count(), 3);
  EXPECT_EQ(b.rng.seed(), 7u);
  EXPECT_EQ(b.rng.stream(), 2u);
  for (int i = 0; i < 2; ++i) a.train_step(), b.train_step();
  EXPECT_EQ(b.params, a.params);
}

TEST_F(CheckpointTest, FileIsPlainSafetensorsWithNamedTensors) {
  Model a;
  lucid::save_checkpoint(dir_ / "c.safetensors", a.state());
  const auto f = lucid::load_safetensors(dir_ / "c.safetensors");
  ASSERT_EQ(f.tensors.size(), 9u);
  EXPECT_EQ(f.tensors[0].name, "l1.weight");
  EXPECT_EQ(f.tensors[0].shape, (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(f.tensors[3].name, "optim.exp_avg.l1.weight");
  EXPECT_EQ(f.metadata.at("lucid.rng.policy"), "7 2 0");
  EXPECT_EQ(f.metadata.at("lucid.adam.step"), "0");
}

TEST_F(CheckpointTest, ShapeMismatchIsRefusedAndStateUntouched) {
  Model a;
  lucid::save_checkpoint(dir_ / "c.safetensors", a.state());
  std::vector<float> params(12, 5.0f);
  std::vector<ArenaView> views = {{"l1.weight", 0, {2, 3}}, {"l1.bias", 6, {3}}, {"l2.weight", 9, {1, 3}}};
  CheckpointState s{params, views, nullptr, {}};
  try {
    lucid::load_checkpoint(dir_ / "c.safetensors", s);
    ADD_FAILURE() << "accepted a shape mismatch";
  } catch (const lucid::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("l1.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[3, 2]"), std::string::npos) << e.what();
  }
  // l1.bias and l2.weight would fit, but nothing is copied because l1.weight does not.
  EXPECT_EQ(params, std::vector<float>(12, 5.0f));
}

TEST_F(CheckpointTest, MissingOptimizerOrRngStateIsRefused) {
  Model a;
  CheckpointState bare{a.params, kViews, nullptr, {}};
  lucid::save_checkpoint(dir_ / "bare.safetensors", bare);
  Model b;
  b.params.assign(12, 1.0f);
  CheckpointState sb = b.state();
  EXPECT_THROW(lucid::load_checkpoint(dir_ / "bare.safetensors", sb), lucid::IoError);
  EXPECT_EQ(b.params, std::vector<float>(12, 1.0f));
}

TEST_F(CheckpointTest, CorruptFileKeepsStateAndPreviousCheckpoint) {
  Model a;
  const fs::path p = dir_ / "c.safetensors";
  lucid::save_checkpoint(p, a.state());
  const auto size = fs::file_size(p);
  fs::resize_file(p, size - 5);
  Model b;
  b.params.assign(12, 2.0f);
  CheckpointState sb = b.state();
  EXPECT_THROW(lucid::load_checkpoint(p, sb), lucid::IoError);
  EXPECT_EQ(b.params, std::vector<float>(12, 2.0f));
}

TEST_F(CheckpointTest, RejectsViewsThatDoNotTileTheArena) {
  Model a;
  CheckpointState s{a.params, {{"w", 0, {3, 2}}, {"b", 7, {3}}}, nullptr, {}};
  EXPECT_THROW(lucid::save_checkpoint(dir_ / "x.safetensors", s), lucid::ShapeError);
  EXPECT_THROW(lucid::save_checkpoint(dir_ / "x.safetensors", a.state(), {{"lucid.step", "1"}}),
               lucid::Error);
  EXPECT_FALSE(fs::exists(dir_ / "x.safetensors"));
}

}  // namespace
