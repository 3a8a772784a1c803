// The TD-MPC2 update's own kernels (kernels/cuda/tdmpc2_update.cu) that hold barriers or serial
// sums, against the CPU code they mirror, under the emulator with random fiber order and swept
// block sizes: the consistency rows (agents::consistency_step), the running scale (the agent's
// percentile_spread and lerp), the rho-weighted cross-entropy mean (agents::rho_soft_ce's sum)
// the serial row sum, the policy loss's per-row kernels (the CPU agent's pi_loss_backward loops,
// restated single-task) and the drawn-head copy.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

// Tdmpc2Agent::pi_loss_backward's row loops, single-task, restated: actions, loss terms, the
// entropy's action gradient and the stash, then (after da gets the Q part) the output gradient.
struct PiRowsReference {
  std::vector<float> action, row_loss, row_entropy, g_q, da, stash, dout;
};
PiRowsReference pi_rows_reference(const std::vector<float>& out, const std::vector<float>& eps,
                                  const std::vector<float>& q, float scale, int H, int B, int A,
                                  const std::vector<float>& da_q) {
  constexpr float kLo = -10.f, kHi = 2.f, kHalfLog2Pi = 0.9189385175704956f;
  const int R = (H + 1) * B;
  const float dif = kHi - kLo;
  PiRowsReference ref;
  ref.action.resize(static_cast<std::size_t>(R) * A);
  ref.row_loss.resize(R);
  ref.row_entropy.resize(R);
  ref.g_q.resize(R);
  ref.da.resize(ref.action.size());
  ref.stash.resize(static_cast<std::size_t>(R) * 2 * A);
  ref.dout.resize(ref.stash.size());
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < A; ++j) {
      const float* o = out.data() + static_cast<std::size_t>(r) * 2 * A;
      const float ls = kLo + 0.5f * dif * (std::tanh(o[A + j]) + 1.f);
      ref.action[r * A + j] = std::tanh(o[j] + eps[r * A + j] * std::exp(ls));
    }
  float w = 1.f;
  for (int t = 0; t <= H; ++t, w *= 0.5f) {
    const float row_w = w / (static_cast<float>(H + 1) * B);
    for (int b = 0; b < B; ++b) {
      const int r = t * B + b;
      const float* o = out.data() + static_cast<std::size_t>(r) * 2 * A;
      float lp_gauss = 0.f, correction = 0.f;
      for (int j = 0; j < A; ++j) {
        const float ls = kLo + 0.5f * dif * (std::tanh(o[A + j]) + 1.f);
        const float e = eps[r * A + j];
        lp_gauss += -0.5f * e * e - ls - kHalfLog2Pi;
        const float a = ref.action[r * A + j];
        correction += std::log(std::max(1.f - a * a, 0.f) + 1e-6f);
      }
      const float lp = lp_gauss - correction, slp = lp_gauss * A, den = lp + 1e-8f;
      const float se = -lp * (slp / den);
      ref.row_loss[r] = row_w * -(1e-4f * se + q[r] / scale);
      ref.row_entropy[r] = se;
      const float g_se = -row_w * 1e-4f, gq = -row_w / scale;
      ref.g_q[r] = 0.5f * gq;
      const float g_lp = g_se * (-slp / den + lp * slp / (den * den));
      const float g_lpg = g_lp + g_se * (-lp / den) * A;
      for (int j = 0; j < A; ++j) {
        const float a = ref.action[r * A + j], one_m = 1.f - a * a;
        ref.da[r * A + j] = one_m > 0.f ? g_lp * 2.f * a / (one_m + 1e-6f) : 0.f;
        const float ls = kLo + 0.5f * dif * (std::tanh(o[A + j]) + 1.f);
        ref.stash[static_cast<std::size_t>(r) * 2 * A + A + j] = -g_lpg;
        ref.stash[static_cast<std::size_t>(r) * 2 * A + j] = eps[r * A + j] * std::exp(ls);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < A; ++j) {
      const float* o = out.data() + static_cast<std::size_t>(r) * 2 * A;
      const float a = ref.action[r * A + j];
      const float dpre = (ref.da[r * A + j] + da_q[r * A + j]) * (1.f - a * a);
      const float* st = ref.stash.data() + static_cast<std::size_t>(r) * 2 * A;
      const float th = std::tanh(o[A + j]);
      ref.dout[static_cast<std::size_t>(r) * 2 * A + j] = dpre;
      ref.dout[static_cast<std::size_t>(r) * 2 * A + A + j] =
          (st[A + j] + dpre * st[j]) * 0.5f * dif * (1.f - th * th);
    }
  return ref;
}

TEST_F(Tdmpc2UpdateKernels, PolicyLossRowsMatchTheAgentsLoops) {
  for (int threads : {32, 128})
    for (auto [H, B, A] : {std::tuple{0, 1, 1}, std::tuple{3, 7, 6}, std::tuple{3, 33, 21}}) {
      cuda::ScopedBlockThreads block(threads);
      const int R = (H + 1) * B;
      const auto out = random_vector(static_cast<std::size_t>(R) * 2 * A, 56, -2.f, 2.f);
      const auto eps = random_vector(static_cast<std::size_t>(R) * A, 57);
      const auto q = random_vector(static_cast<std::size_t>(R), 58, -20.f, 20.f);
      const auto da_q = random_vector(static_cast<std::size_t>(R) * A, 59);  // the Q heads' part of da
      const float scale = 3.5f;
      const PiRowsReference ref = pi_rows_reference(out, eps, q, scale, H, B, A, da_q);
      DeviceBuffer<float> d_out(out), d_eps(eps), d_q(q), d_scale(std::vector<float>{scale});
      DeviceBuffer<float> d_act(ref.action.size()), d_loss(R), d_ent(R), d_gq(R), d_da(ref.da.size());
      DeviceBuffer<float> d_stash(ref.stash.size()), d_dout(ref.dout.size()), d_sum(1);
      kernels::pi_actions_cuda(d_out.get(), d_eps.get(), R, A, -10.f, 2.f, d_act.get(), nullptr);
      kernels::pi_loss_rows_cuda(d_out.get(), d_eps.get(), d_act.get(), d_q.get(), d_scale.get(), H, B, A,
                                 0.5f, 1e-4f, -10.f, 2.f, d_loss.get(), d_ent.get(), d_gq.get(), d_da.get(),
                                 d_stash.get(), nullptr);
      EXPECT_TRUE(all_close(d_act.download().data(), ref.action.data(), ref.action.size(), 1e-7, 1e-6))
          << "action";
      EXPECT_TRUE(all_close(d_loss.download().data(), ref.row_loss.data(), R, 1e-7, 1e-5)) << "row loss";
      EXPECT_TRUE(all_close(d_ent.download().data(), ref.row_entropy.data(), R, 1e-6, 1e-5)) << "entropy";
      EXPECT_TRUE(all_close(d_gq.download().data(), ref.g_q.data(), R, 0, 1e-6)) << "g_q";
      EXPECT_TRUE(all_close(d_da.download().data(), ref.da.data(), ref.da.size(), 1e-7, 1e-5)) << "da";
      EXPECT_TRUE(all_close(d_stash.download().data(), ref.stash.data(), ref.stash.size(), 1e-7, 1e-5))
          << "stash";
      // The Q heads add their part of da, then the output gradient.
      std::vector<float> da = d_da.download();
      for (std::size_t i = 0; i < da.size(); ++i) da[i] += da_q[i];
      d_da.upload(da);
      kernels::pi_out_grad_cuda(d_out.get(), d_act.get(), d_da.get(), d_stash.get(), R, A, -10.f, 2.f,
                                d_dout.get(), nullptr);
      EXPECT_TRUE(all_close(d_dout.download().data(), ref.dout.data(), ref.dout.size(), 1e-7, 1e-5))
          << "dout";
    }
}

TEST_F(Tdmpc2UpdateKernels, SelectBlocksCopiesTheDrawnHeads) {
  for (int threads : {32, 256})
    for (std::int64_t block : {1, 37, 5000}) {
      cuda::ScopedBlockThreads scoped(threads);
      const auto src = random_vector(static_cast<std::size_t>(4 * block), 60);
      const std::vector<float> heads{3.f, 1.f};
      std::vector<float> want(src.begin() + 3 * block, src.begin() + 4 * block);
      want.insert(want.end(), src.begin() + block, src.begin() + 2 * block);
      DeviceBuffer<float> d_src(src), d_heads(heads), d_dst(static_cast<std::size_t>(2 * block));
      kernels::select_blocks_cuda(d_src.get(), block, d_heads.get(), 2, d_dst.get(), nullptr);
      EXPECT_TRUE(all_close(d_dst.download().data(), want.data(), want.size(), 0, 0)) << block;
    }
}

}  // namespace
}  // namespace lucid
