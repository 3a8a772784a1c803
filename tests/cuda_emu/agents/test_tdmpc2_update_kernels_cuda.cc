// The TD-MPC2 update's own kernels (kernels/cuda/tdmpc2_update.cu) that hold barriers or serial
// sums, against the CPU code they mirror, under the emulator with random fiber order and swept
// block sizes: the consistency rows (agents::consistency_step), the running scale (the agent's
// percentile_spread and lerp), the rho-weighted cross-entropy mean (agents::rho_soft_ce's sum)
// and the serial row sum. The policy-loss rows are checked end to end by test_tdmpc2_update_cuda.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "emu_fixture.h"
#include "lucid/agents/consistency_loss.h"
#include "lucid/agents/tdmpc2_agent.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/tdmpc2_update.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using testing::all_close;
using testing::DeviceBuffer;
using testing::random_vector;

class Tdmpc2UpdateKernels : public testing::EmuTest {};

TEST_F(Tdmpc2UpdateKernels, ConsistencyRowsAndTotalMatchTheCpuStep) {
  for (int threads : {32, 96, 1024})
    for (auto [rows, L] : {std::pair{1, 1}, std::pair{7, 37}, std::pair{16, 512}}) {
      cuda::ScopedBlockThreads block(threads);
      const auto z = random_vector(static_cast<std::size_t>(rows) * L, 51);
      const auto target = random_vector(z.size(), 52);
      const auto dz0 = random_vector(z.size(), 53);
      std::vector<float> dz = dz0;
      std::vector<double> partials(static_cast<std::size_t>(rows));
      const double se =
          agents::consistency_step(z.data(), target.data(), rows, L, 0.3f, dz.data(), partials.data());
      const float want = 0.5f * static_cast<float>(se / (static_cast<double>(rows) * L));
      DeviceBuffer<float> d_z(z), d_t(target), d_dz(dz0), d_acc(std::vector<float>{0.25f});
      DeviceBuffer<double> d_se(static_cast<std::size_t>(rows));
      kernels::consistency_rows_cuda(d_z.get(), d_t.get(), rows, L, 0.3f, d_dz.get(), d_se.get(), nullptr);
      kernels::consistency_total_cuda(d_se.get(), rows, L, 0.5f, d_acc.get(), nullptr);
      EXPECT_TRUE(all_close(d_dz.download().data(), dz.data(), dz.size(), 0, 0)) << "dz";
      // The row sums are a tree in double here, serial on the CPU: equal to a float's rounding.
      EXPECT_NEAR(d_acc.download()[0], 0.25f + want, 1e-6 * (1.0 + want)) << rows << "x" << L;
    }
}

TEST_F(Tdmpc2UpdateKernels, RunningScaleSortsAndInterpolatesAsTheAgent) {
  for (int threads : {32, 256})
    for (int n : {1, 2, 20, 256, 300}) {
      cuda::ScopedBlockThreads block(threads);
      auto v = random_vector(static_cast<std::size_t>(n), 54, -30.f, 30.f);
      if (n > 4) v[3] = v[1];  // ties
      std::vector<float> sorted = v;
      const float spread = agents::percentile_spread(sorted);
      const float scale0 = 2.5f, tau = 0.01f;
      const float want = scale0 + tau * (std::max(spread, 1.f) - scale0);
      DeviceBuffer<float> d_v(v), d_scale(std::vector<float>{scale0});
      kernels::running_scale_cuda(d_v.get(), n, tau, d_scale.get(), nullptr);
      EXPECT_EQ(d_scale.download()[0], want) << n;
    }
  DeviceBuffer<float> d(1);
  EXPECT_THROW(kernels::running_scale_cuda(d.get(), 5000, 0.01f, d.get(), nullptr), ShapeError);
}

TEST_F(Tdmpc2UpdateKernels, RhoCrossEntropyMeanAndRowSumAreTheSerialSums) {
  const int H = 3, B = 17;
  const auto ce = random_vector(static_cast<std::size_t>(H) * B, 55, 0.f, 5.f);
  float loss = 0.f, wt = 1.f;
  for (int t = 0; t < H; ++t, wt *= 0.5f) {
    float s = 0.f;
    for (int b = 0; b < B; ++b) s += ce[t * B + b];
    loss += wt * s / static_cast<float>(B);
  }
  float sum = 0.f;
  for (float x : ce) sum += x;
  DeviceBuffer<float> d_ce(ce), d_acc(std::vector<float>{1.f}), d_sum(1);
  kernels::rho_ce_loss_cuda(d_ce.get(), H, B, 0.5f, d_acc.get(), nullptr);
  kernels::sum_rows_cuda(d_ce.get(), H * B, d_sum.get(), nullptr);
  EXPECT_EQ(d_acc.download()[0], 1.f + loss / static_cast<float>(H));
  EXPECT_EQ(d_sum.download()[0], sum);
}

}  // namespace
}  // namespace lucid
