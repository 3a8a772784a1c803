// Dream-MPC's device planner steps (kernels/cuda/dream_mpc.cu), the run-time-weighted epilogues of
// the device action gradient (q_head.cu's scaled decode backward, rollout.cu's weighted head sum)
// and the Philox draw at a device offset (random.cu), against CPU references under the emulator
// with random fiber order, over block sizes and batch shapes. The references are the planner's
// own loops (planners/grad_mpc/action_ascent.cc, planners/dream_mpc/dream_mpc.cc), restated.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "emu_fixture.h"
#include "lucid/engine/rng.h"
#include "lucid/kernels/cuda/dream_mpc.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/q_head.h"
#include "lucid/kernels/cuda/random.h"
#include "lucid/kernels/cuda/rollout.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using testing::all_close;
using testing::DeviceBuffer;
using testing::random_vector;

class DreamMpcKernels : public testing::EmuTest {};

TEST_F(DreamMpcKernels, WarmStartBlendsTheShiftedCandidatesOrCopiesThePrior) {
  for (int threads : {32, 96})
    for (auto [H, rows, A] : {std::tuple{1, 1, 1}, std::tuple{3, 5, 6}, std::tuple{4, 10, 7}}) {
      cuda::ScopedBlockThreads block(threads);
      const std::size_t step = static_cast<std::size_t>(rows) * A, n = H * step;
      const auto prior = random_vector(n, 31), stored = random_vector(n, 32);
      std::vector<float> warm(n);
      for (int t = 0; t < H; ++t)
        for (std::size_t i = 0; i < step; ++i)
          warm[t * step + i] =
              0.1f * stored[std::min(t + 1, H - 1) * step + i] + (1.f - 0.1f) * prior[t * step + i];
      for (bool is_warm : {false, true}) {
        DeviceBuffer<float> d_prior(prior), d_stored(stored), d_act(n), d_init(n);
        kernels::dream_warm_start_cuda(d_prior.get(), d_stored.get(), d_act.get(), d_init.get(), H, rows, A,
                                       0.1f, is_warm, nullptr);
        const std::vector<float>& want = is_warm ? warm : prior;
        EXPECT_TRUE(all_close(d_act.download().data(), want.data(), n, 0, 0)) << H << "x" << rows << "x" << A;
        EXPECT_TRUE(all_close(d_init.download().data(), want.data(), n, 0, 0));
      }
    }
}

// clip_grad_norm_per_obs then ascend, as planners/grad_mpc/action_ascent.cc.
void clip_ascend_reference(std::vector<float>& g, std::vector<float>& a, int H, int B, int N, int A,
                           float clip, float lr) {
  const std::size_t rows = static_cast<std::size_t>(B) * N;
  for (int b = 0; b < B; ++b) {
    double sq = 0.0;
    for (int t = 0; t < H; ++t)
      for (int i = 0; i < N * A; ++i) {
        float& x = g[(t * rows + static_cast<std::size_t>(b) * N) * A + i];
        if (!std::isfinite(x)) x = 0.f;
        sq += static_cast<double>(x) * x;
      }
    const double coef = clip / (std::sqrt(sq) + 1e-6);
    if (coef >= 1.0) continue;
    for (int t = 0; t < H; ++t)
      for (int i = 0; i < N * A; ++i) {
        float& x = g[(t * rows + static_cast<std::size_t>(b) * N) * A + i];
        x = static_cast<float>(x * coef);
      }
  }
  for (std::size_t i = 0; i < a.size(); ++i) a[i] += lr * g[i];
}

TEST_F(DreamMpcKernels, ClipAscendScalesEachObservationsBlockOnItsOwn) {
  for (int threads : {32, 96, 1024})
    for (auto [H, B, N, A] : {std::tuple{3, 1, 5, 6}, std::tuple{3, 3, 5, 6}, std::tuple{2, 2, 7, 33}}) {
      cuda::ScopedBlockThreads block(threads);
      const std::size_t n = static_cast<std::size_t>(H) * B * N * A;
      auto g = random_vector(n, 33, -4.f, 4.f);
      // Observation 0 gets a large gradient (clipped), the last a tiny one (left alone), and a
      // NaN and an inf that must become 0.
      for (std::size_t i = 0; i < static_cast<std::size_t>(N) * A; ++i) g[i] *= 50.f;
      for (int t = 0; t < H; ++t)
        for (int i = 0; i < N * A; ++i)
          g[(static_cast<std::size_t>(t) * B * N + (B - 1) * N) * A + i] *= 1e-3f;
      g[1] = std::nanf("");
      g[n - 1] = INFINITY;
      const auto a = random_vector(n, 34);
      std::vector<float> want_g = g, want_a = a;
      clip_ascend_reference(want_g, want_a, H, B, N, A, 20.f, 0.1f);
      DeviceBuffer<float> d_g(g), d_a(a);
      kernels::dream_clip_ascend_cuda(d_g.get(), d_a.get(), H, B, N, A, 20.f, 0.1f, nullptr);
      // The device norm is a tree sum in double: equal to the serial one to ~1 ulp of a float.
      EXPECT_TRUE(all_close(d_g.download().data(), want_g.data(), n, 1e-6f, 1e-6f)) << threads;
      EXPECT_TRUE(all_close(d_a.download().data(), want_a.data(), n, 1e-6f, 1e-6f)) << threads;
    }
}

TEST_F(DreamMpcKernels, SelectTakesTheBestCandidateAndClampsEverything) {
  for (int threads : {32, 64})
    for (auto [H, B, N, A] : {std::tuple{1, 1, 1, 1}, std::tuple{3, 2, 5, 6}, std::tuple{2, 3, 4, 38}}) {
      cuda::ScopedBlockThreads block(threads);
      const std::size_t n = static_cast<std::size_t>(H) * B * N * A;
      const auto actions = random_vector(n, 35, -2.f, 2.f);
      auto value = random_vector(static_cast<std::size_t>(B) * N, 36, -1.f, 1.f);
      value[0] = std::nanf("");        // read as 0
      if (N > 2) value[2] = value[1];  // a tie: the lower index wins
      std::vector<float> want_out(static_cast<std::size_t>(B) * A), want_stored(n);
      for (int b = 0; b < B; ++b) {
        int best = 0;
        float best_v = -INFINITY;
        for (int c = 0; c < N; ++c) {
          float v = value[b * N + c];
          if (std::isnan(v)) v = 0.f;
          if (v > best_v) best_v = v, best = c;
        }
        for (int j = 0; j < A; ++j)
          want_out[b * A + j] =
              std::clamp(actions[(static_cast<std::size_t>(b) * N + best) * A + j], -1.f, 1.f);
      }
      for (std::size_t i = 0; i < n; ++i) want_stored[i] = std::clamp(actions[i], -1.f, 1.f);
      DeviceBuffer<float> d_value(value), d_act(actions), d_out(want_out.size()), d_stored(n);
      kernels::dream_select_cuda(d_value.get(), d_act.get(), d_out.get(), d_stored.get(), H, B, N, A,
                                 nullptr);
      EXPECT_TRUE(all_close(d_out.download().data(), want_out.data(), want_out.size(), 0, 0));
      EXPECT_TRUE(all_close(d_stored.download().data(), want_stored.data(), n, 0, 0));
    }
}

TEST_F(DreamMpcKernels, ScaledDecodeBackwardIsTheAveragedHeadsBackwardAtThatWeight) {
  constexpr int kBins = 101;
  for (int threads : {32, 128})
    for (std::int64_t rows : {1, 5, 37}) {
      cuda::ScopedBlockThreads block(threads);
      const auto logits = random_vector(static_cast<std::size_t>(rows) * kBins, 37, -2.f, 2.f);
      const auto bias = random_vector(kBins, 38);
      const float scale = 0.97f, w = 0.5f;
      // A head averaged with itself gets weight 1: its backward at g_out = scale * w is the
      // scaled backward's at weight w.
      const std::vector<float> g_out(static_cast<std::size_t>(rows), scale * w);
      DeviceBuffer<float> d_logits(logits), d_bias(bias), d_g(g_out), d_w(std::vector<float>{w});
      DeviceBuffer<float> d_want(logits.size()), d_got(logits.size()), d_unit(logits.size());
      kernels::q_head_decode_backward_cuda(d_logits.get(), d_bias.get(), d_g.get(), d_want.get(), 1, rows,
                                           kBins, -10.f, 10.f, 0, 0, kernels::QCombine::kAvg, nullptr);
      kernels::q_head_decode_scaled_backward_cuda(d_logits.get(), d_bias.get(), d_w.get(), scale, d_got.get(),
                                                  rows, kBins, -10.f, 10.f, nullptr);
      EXPECT_TRUE(all_close(d_got.download().data(), d_want.download().data(), logits.size(), 0, 0));
      // No weight reads as 1; weight 0 gives exact zeros.
      const std::vector<float> g_scale(static_cast<std::size_t>(rows), scale);
      d_g.upload(g_scale);
      kernels::q_head_decode_backward_cuda(d_logits.get(), nullptr, d_g.get(), d_want.get(), 1, rows, kBins,
                                           -10.f, 10.f, 0, 0, kernels::QCombine::kAvg, nullptr);
      kernels::q_head_decode_scaled_backward_cuda(d_logits.get(), nullptr, nullptr, scale, d_unit.get(), rows,
                                                  kBins, -10.f, 10.f, nullptr);
      EXPECT_TRUE(all_close(d_unit.download().data(), d_want.download().data(), logits.size(), 0, 0));
      d_w.upload(std::vector<float>{0.f});
      kernels::q_head_decode_scaled_backward_cuda(d_logits.get(), d_bias.get(), d_w.get(), scale, d_got.get(),
                                                  rows, kBins, -10.f, 10.f, nullptr);
      for (float v : d_got.download()) ASSERT_EQ(v, 0.f);
    }
}

TEST_F(DreamMpcKernels, WeightedHeadSumAddsEachHeadInOrder) {
  for (int threads : {32, 64})
    for (int K : {1, 2, 5})
      for (std::int64_t rows : {1, 5, 40}) {
        cuda::ScopedBlockThreads block(threads);
        const std::int64_t ld = rows * 4 + 3;  // the terminal rows of a wider batch
        const auto values = random_vector(static_cast<std::size_t>(K * ld), 39, -5.f, 5.f);
        auto weight = random_vector(static_cast<std::size_t>(K), 40, 0.f, 1.f);
        if (K > 1) weight[0] = 0.f;  // a head not drawn
        const auto value0 = random_vector(static_cast<std::size_t>(rows), 41);
        std::vector<float> want = value0;
        for (std::int64_t r = 0; r < rows; ++r)
          for (int k = 0; k < K; ++k) want[r] += (0.9f * weight[k]) * values[k * ld + 3 + r];
        DeviceBuffer<float> d_values(values), d_w(weight), d_value(value0);
        kernels::head_weighted_accumulate_cuda(d_values.get() + 3, ld, K, d_w.get(), 0.9f, d_value.get(),
                                               rows, nullptr);
        EXPECT_TRUE(all_close(d_value.download().data(), want.data(), want.size(), 0, 0));
      }
}

TEST_F(DreamMpcKernels, PhiloxAtADeviceOffsetDrawsTheRngsNumbers) {
  for (std::size_t n : {1u, 6u, 90u, 1027u}) {
    Rng rng(77, 5);
    rng.set_offset(123456789ull + n);
    const std::uint64_t offset = rng.offset();
    std::vector<float> want(n);
    rng.normal(want.data(), n);
    std::vector<std::uint64_t> off{offset};
    DeviceBuffer<std::uint64_t> d_off(off);
    DeviceBuffer<float> d_out(n);
    kernels::philox_normal_at_cuda(d_out.get(), n, 77, 5, d_off.get(), nullptr);
    EXPECT_TRUE(all_close(d_out.download().data(), want.data(), n, 0, 0)) << n;
    EXPECT_EQ(rng.offset(), offset + kernels::philox_blocks(n));
  }
}

TEST_F(DreamMpcKernels, BadShapesAreRejected) {
  DeviceBuffer<float> d(8);
  EXPECT_THROW(kernels::dream_clip_ascend_cuda(d.get(), d.get(), 0, 1, 1, 1, 1.f, 1.f, nullptr), ShapeError);
  EXPECT_THROW(kernels::dream_select_cuda(d.get(), d.get(), d.get(), d.get(), 1, 0, 1, 1, nullptr),
               ShapeError);
  EXPECT_THROW(kernels::head_weighted_accumulate_cuda(d.get(), 1, 1, d.get(), 1.f, d.get(), 2, nullptr),
               ShapeError);
  EXPECT_THROW(kernels::philox_normal_at_cuda(d.get(), 4, 1, 1, nullptr, nullptr), Error);
}

}  // namespace
}  // namespace lucid
