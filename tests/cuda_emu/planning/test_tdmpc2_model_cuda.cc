// TD-MPC2's WorldModel queries on the emulated CUDA device (models/tdmpc2/model_cuda.cc) equal
// the CPU queries of the same model to 1e-5, on a small model whose every weight is random (the
// zero-initialised output layers too, so the two-hot decodes see real distributions), with random
// fiber order on. Also: the per-layer launch counts the device forward promises (mlp_cuda.h), and
// that a weight write (weights_version bump) reaches the next device query.
#include <gtest/gtest.h>

#include <vector>

#include "emu_fixture.h"
#include "lucid/engine/cuda_device.h"
#include "lucid/engine/rng.h"
#include "lucid/models/tdmpc2/model.h"
#include "lucid/models/tdmpc2/model_cuda.h"
#include "lucid_test.h"
#include "small_tdmpc2.h"

namespace lucid {
namespace {

using models::tdmpc2::Tdmpc2Config;
using models::tdmpc2::Tdmpc2Model;
using testing::all_close;

constexpr float kTol = 1e-5f;

Tensor host_random(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  return Tensor::from(testing::random_vector(static_cast<std::size_t>(rows * cols), seed), Shape{rows, cols});
}

class Tdmpc2CudaTest : public testing::EmuTest {
 protected:
  void SetUp() override {
    testing::EmuTest::SetUp();
    use_cuda_device();
  }
};

TEST_F(Tdmpc2CudaTest, EveryQueryMatchesTheCpu) {
  Tdmpc2Model model(testing::small_tdmpc2_config());
  testing::randomise_tdmpc2(model, 7);
  const int L = 32, A = 3;
  for (int rows : {1, 13}) {
    const Tensor obs = host_random(rows, 7, 1), z = host_random(rows, L, 2), a = host_random(rows, A, 3);
    const Tensor eps = host_random(rows, A, 4), z_shared = host_random(1, L, 5);
    const Tensor d_obs = obs.to(Device::kCuda), d_z = z.to(Device::kCuda), d_a = a.to(Device::kCuda);
    const Tensor d_eps = eps.to(Device::kCuda), d_shared = z_shared.to(Device::kCuda);
    auto check = [&](const Tensor& cpu, const Tensor& dev, const char* what) {
      ASSERT_EQ(dev.device(), Device::kCuda);
      const std::vector<float> got = dev.to_vector(), ref = cpu.to_vector();
      EXPECT_TRUE(all_close(got.data(), ref.data(), ref.size(), kTol, kTol)) << what << ", rows " << rows;
    };
    auto both = [&](std::int64_t r, std::int64_t c) {
      return std::pair{Tensor::zeros(Shape{r, c}), Tensor::zeros(Shape{r, c}, Device::kCuda)};
    };
    {
      auto [c, d] = both(rows, L);
      model.encode_into(obs, c);
      model.encode_into(d_obs, d);
      check(c, d, "encode");
    }
    {
      auto [c, d] = both(rows, L);
      model.next_into(z, a, c);
      model.next_into(d_z, d_a, d);
      check(c, d, "next");
    }
    {
      auto [c, d] = both(rows, 1);
      model.reward_into(z, a, c);
      model.reward_into(d_z, d_a, d);
      check(c, d, "reward");
    }
    {
      auto [cr, dr] = both(rows, 1);
      auto [cz, dz] = both(rows, L);
      model.step_from_shared_into(z_shared, z, a, cr, cz);
      model.step_from_shared_into(d_shared, d_z, d_a, dr, dz);
      check(cr, dr, "step reward");
      check(cz, dz, "step z'");
    }
    for (std::vector<int> heads : {std::vector<int>{1}, std::vector<int>{2, 0}}) {
      auto [c, d] = both(rows, 1);
      model.value_into(z, a, heads, c);
      model.value_into(d_z, d_a, heads, d);
      check(c, d, "Q");
    }
    {
      const Tensor c = Tensor::zeros(Shape{3, rows, 1}), d = Tensor::zeros(Shape{3, rows, 1}, Device::kCuda);
      model.value_ensemble_into(z, a, c);
      model.value_ensemble_into(d_z, d_a, d);
      check(c, d, "Q ensemble");
    }
    {
      auto [cm, dm] = both(rows, A);
      auto [cl, dl] = both(rows, A);
      model.policy_into(z, cm, cl);
      model.policy_into(d_z, dm, dl);
      check(cm, dm, "pi mean");
      check(cl, dl, "pi log_std");
    }
    for (bool with_eps : {false, true}) {
      auto [c, d] = both(rows, A);
      model.policy_action_into(z, with_eps ? eps : Tensor(), c);
      model.policy_action_into(d_z, with_eps ? d_eps : Tensor(), d);
      check(c, d, with_eps ? "pi action (eps)" : "pi action (mean)");
    }
  }
}

TEST_F(Tdmpc2CudaTest, MixedDevicesAreRefused) {
  Tdmpc2Model model(testing::small_tdmpc2_config());
  testing::randomise_tdmpc2(model, 10);
  const Tensor z = host_random(4, 32, 31), a = host_random(4, 3, 32);
  const Tensor r_dev = Tensor::zeros(Shape{4, 1}, Device::kCuda);
  EXPECT_THROW(model.reward_into(z, a, r_dev), Error);
  EXPECT_THROW(model.policy_action_into(z.to(Device::kCuda), a, Tensor::zeros(Shape{4, 3}, Device::kCuda)),
               Error);
}

TEST_F(Tdmpc2CudaTest, TargetQMatchesTheCpu) {
  Tdmpc2Model model(testing::small_tdmpc2_config());
  testing::randomise_tdmpc2(model, 8);
  const int rows = 9;
  const Tensor z = host_random(rows, 32, 11), a = host_random(rows, 3, 12);
  const Tensor d_z = z.to(Device::kCuda), d_a = a.to(Device::kCuda),
               d_v = Tensor::zeros(Shape{rows}, Device::kCuda);
  std::vector<float> ref(rows);
  const int heads[2] = {0, 2};
  model.q_raw(z.data(), a.data(), rows, heads, true, ref.data());
  model.cuda_twin().q(d_z.data(), d_a.data(), rows, heads, true, d_v.data());
  const std::vector<float> got = d_v.to_vector();
  EXPECT_TRUE(all_close(got.data(), ref.data(), ref.size(), kTol, kTol));
}

TEST_F(Tdmpc2CudaTest, LaunchCountsAndWeightUpdates) {
  Tdmpc2Model model(testing::small_tdmpc2_config());
  testing::randomise_tdmpc2(model, 9);
  const int rows = 5;
  const Tensor z = host_random(rows, 32, 21).to(Device::kCuda),
               a = host_random(rows, 3, 22).to(Device::kCuda);
  const Tensor r = Tensor::zeros(Shape{rows, 1}, Device::kCuda),
               z_next = Tensor::zeros(Shape{rows, 32}, Device::kCuda);
  model.reward_into(z, a, r);  // first query: makes the twin and uploads (copies, no kernels)
  const auto before = emu::counters(cuda_compute_stream()).kernel_launches;
  model.next_into(z, a, z_next);
  // dynamics: layer 0 two GEMMs (z and a halves) + bias/LN/Mish, layer 1 GEMM + LN, SimNorm
  // output GEMM + LN + softmax.
  EXPECT_EQ(emu::counters(cuda_compute_stream()).kernel_launches - before, 3u + 2u + 3u);
  const auto before_r = emu::counters(cuda_compute_stream()).kernel_launches;
  model.reward_into(z, a, r);
  // reward: 3 + 2 for the hidden layers, the output GEMM and one decode launch (bias fused).
  EXPECT_EQ(emu::counters(cuda_compute_stream()).kernel_launches - before_r, 3u + 2u + 1u + 1u);

  // A weight write after the upload must reach the next device query.
  const std::uint64_t uploaded = model.cuda_twin().uploaded_version();
  const std::vector<float> r_old = r.to_vector();
  std::span<float> p = model.params();
  const auto& last = model.layout().reward.layers().back();
  float* bias = p.data() + model.layout().reward.begin() + last.b;
  for (int j = 0; j < last.out; ++j) bias[j] += 0.05f * static_cast<float>(j);
  model.reward_into(z, a, r);
  EXPECT_NE(model.cuda_twin().uploaded_version(), uploaded);
  const Tensor r_cpu = Tensor::zeros(Shape{rows, 1});
  model.reward_into(z.to(Device::kCpu), a.to(Device::kCpu), r_cpu);
  const std::vector<float> got = r.to_vector(), ref = r_cpu.to_vector();
  EXPECT_TRUE(all_close(got.data(), ref.data(), ref.size(), kTol, kTol));
  EXPECT_FALSE(all_close(got.data(), r_old.data(), r_old.size(), kTol, kTol))
      << "stale weights on the device";
}

}  // namespace
}  // namespace lucid
