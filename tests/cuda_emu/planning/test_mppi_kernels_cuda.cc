// The planning kernels (kernels/cuda/policy.cu, mppi.cu) against their CPU references under the
// emulator with random fiber order on, over block sizes and shapes that are not multiples of 32:
// policy_squash vs Tdmpc2Model's squash formulas (and its backward vs finite differences),
// mppi_sample_actions vs Mppi's sampling loop
// (noise order, clamp, a step stride wider than the batch), mppi_accumulate's three modes
// (nan_to_num included), and mppi_elite_refit vs partial_sort + elite_refit (planners/sampling),
// with tied values to pin the tie order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>
#include <vector>

#include "emu_fixture.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/mppi.h"
#include "lucid/kernels/cuda/policy.h"
#include "lucid/planners/elite_refit.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using testing::all_close;
using testing::DeviceBuffer;
using testing::random_vector;

class PlanningKernels : public testing::EmuTest {};

TEST_F(PlanningKernels, PolicySquashMatchesTheCpuFormulas) {
  const float ls_min = -10.f, ls_max = 2.f;
  for (int threads : {32, 96, 256})
    for (auto [rows, A] : {std::pair{1, 1}, std::pair{7, 3}, std::pair{45, 6}}) {
      cuda::ScopedBlockThreads block(threads);
      const auto raw = random_vector(static_cast<std::size_t>(rows) * 2 * A, 1, -2.f, 2.f);
      const auto bias = random_vector(2 * static_cast<std::size_t>(A), 2);
      const auto eps = random_vector(static_cast<std::size_t>(rows) * A, 3);
      std::vector<float> mean(rows * A), log_std(rows * A), act(rows * A), act0(rows * A);
      for (int r = 0; r < rows; ++r)
        for (int j = 0; j < A; ++j) {
          const float mu = raw[r * 2 * A + j] + bias[j];
          const float ls =
              ls_min + 0.5f * (ls_max - ls_min) * (std::tanh(raw[r * 2 * A + A + j] + bias[A + j]) + 1.f);
          mean[r * A + j] = mu;
          log_std[r * A + j] = ls;
          act[r * A + j] = std::tanh(mu + eps[r * A + j] * std::exp(ls));
          act0[r * A + j] = std::tanh(mu);
        }
      DeviceBuffer<float> d_raw(raw), d_bias(bias), d_eps(eps), d_mean(mean.size()), d_ls(mean.size()),
          d_act(mean.size()), d_act0(mean.size());
      kernels::policy_squash_cuda(d_raw.get(), d_bias.get(), d_eps.get(), d_mean.get(), d_ls.get(),
                                  d_act.get(), rows, A, ls_min, ls_max, nullptr);
      kernels::policy_squash_cuda(d_raw.get(), d_bias.get(), nullptr, nullptr, nullptr, d_act0.get(), rows, A,
                                  ls_min, ls_max, nullptr);
      EXPECT_TRUE(all_close(d_mean.download().data(), mean.data(), mean.size(), 1e-6, 1e-6));
      EXPECT_TRUE(all_close(d_ls.download().data(), log_std.data(), mean.size(), 1e-5, 1e-6));
      EXPECT_TRUE(all_close(d_act.download().data(), act.data(), mean.size(), 1e-6, 1e-5));
      EXPECT_TRUE(all_close(d_act0.download().data(), act0.data(), mean.size(), 1e-6, 1e-5));
    }
}

// The squash backward against Tdmpc2ActionGradient's CPU formulas (with and without noise, with
// a multitask action mask), and against central differences of the forward in double.
TEST_F(PlanningKernels, PolicySquashBackwardMatchesTheCpuFormulasAndFiniteDifferences) {
  const float ls_min = -3.f, ls_max = 1.f, dif = ls_max - ls_min;
  for (int threads : {32, 96})
    for (auto [rows, A] : {std::pair{1, 1}, std::pair{7, 3}, std::pair{45, 6}})
      for (bool noisy : {true, false})
        for (bool masked : {false, true}) {
          cuda::ScopedBlockThreads block(threads);
          const auto raw = random_vector(static_cast<std::size_t>(rows) * 2 * A, 11, -1.5f, 1.5f);
          const auto bias = random_vector(2 * static_cast<std::size_t>(A), 12, -0.3f, 0.3f);
          const auto eps = random_vector(static_cast<std::size_t>(rows) * A, 13, -2.f, 2.f);
          const auto g_act = random_vector(static_cast<std::size_t>(rows) * A, 14);
          std::vector<float> mask(A, 1.f);
          if (masked) mask[A - 1] = 0.f;
          // Forward in double: a(o) = tanh(mu + eps exp(ls(o))), for the reference and the check.
          auto act = [&](const std::vector<double>& o, int r, int j) {
            const double mu = o[r * 2 * A + j];
            const double ls = ls_min + 0.5 * dif * (std::tanh(o[r * 2 * A + A + j]) + 1.0);
            return std::tanh(noisy ? mu + eps[r * A + j] * std::exp(ls) : mu);
          };
          std::vector<double> o(raw.size());
          for (int r = 0; r < rows; ++r)
            for (int c = 0; c < 2 * A; ++c) o[r * 2 * A + c] = double{raw[r * 2 * A + c]} + bias[c];
          std::vector<float> a(static_cast<std::size_t>(rows) * A), want(raw.size());
          for (int r = 0; r < rows; ++r)
            for (int j = 0; j < A; ++j) {
              a[r * A + j] = static_cast<float>(act(o, r, j));
              for (int half = 0; half < 2; ++half) {  // d a / d o by central differences
                const int c = half * A + j;
                std::vector<double> hi = o, lo = o;
                hi[r * 2 * A + c] += 1e-6;
                lo[r * 2 * A + c] -= 1e-6;
                const double d = (act(hi, r, j) - act(lo, r, j)) / 2e-6;
                want[r * 2 * A + c] = mask[j] == 0.f ? 0.f : static_cast<float>(g_act[r * A + j] * d);
              }
            }
          DeviceBuffer<float> d_raw(raw), d_bias(bias), d_eps(eps), d_a(a), d_g(g_act), d_mask(mask),
              d_out(raw.size());
          kernels::policy_squash_backward_cuda(d_raw.get(), d_bias.get(), noisy ? d_eps.get() : nullptr,
                                               d_a.get(), d_g.get(), masked ? d_mask.get() : nullptr,
                                               d_out.get(), rows, A, ls_min, ls_max, nullptr);
          EXPECT_TRUE(all_close(d_out.download().data(), want.data(), want.size(), 1e-4, 1e-4))
              << rows << " x " << A << " noisy " << noisy << " masked " << masked;
        }
}

TEST_F(PlanningKernels, SampleActionsInTheCpuNoiseOrder) {
  const int H = 3, A = 5, S = 37, P = 6;
  for (int threads : {32, 160})
    for (int B : {1, 2}) {
      cuda::ScopedBlockThreads block(threads);
      const std::int64_t step_rows = 3 * S;  // sized for max_batch 3
      const auto mean = random_vector(static_cast<std::size_t>(B) * H * A, 4, -0.5f, 0.5f);
      const auto sd = random_vector(mean.size(), 5, 0.1f, 2.f);
      const auto noise = random_vector(static_cast<std::size_t>(B) * (S - P) * H * A, 6, -3.f, 3.f);
      std::vector<float> ref(static_cast<std::size_t>(H) * step_rows * A, -7.f);  // untouched rows stay -7
      std::size_t k = 0;
      for (int t = 0; t < H; ++t)
        for (int b = 0; b < B; ++b)
          for (int s = P; s < S; ++s)
            for (int j = 0; j < A; ++j) {
              const std::size_t m = (static_cast<std::size_t>(b) * H + t) * A + j;
              ref[(t * step_rows + b * S + s) * A + j] = std::clamp(mean[m] + sd[m] * noise[k++], -1.f, 1.f);
            }
      DeviceBuffer<float> d_mean(mean), d_sd(sd), d_noise(noise), d_act(std::vector<float>(ref.size(), -7.f));
      kernels::mppi_sample_actions_cuda(d_mean.get(), d_sd.get(), d_noise.get(), d_act.get(), B, S, P, H, A,
                                        step_rows, nullptr);
      EXPECT_TRUE(all_close(d_act.download().data(), ref.data(), ref.size(), 0, 0)) << "B " << B;
    }
}

TEST_F(PlanningKernels, AccumulateModes) {
  const std::vector<float> x = {1.f, -2.f, NAN, 3.f, INFINITY, 0.5f, 2.f};
  const std::vector<float> v = {0.5f, 1.f, 1.f, -INFINITY, 1.f, NAN, 4.f};
  const float scale = 0.9f;
  DeviceBuffer<float> d_x(x), d_v(v);
  kernels::mppi_accumulate_cuda(d_v.get(), d_x.get(), 7, scale, kernels::MppiAccumulate::kAddNanToNum,
                                nullptr);
  const std::vector<float> got = d_v.download();
  for (std::size_t i = 0; i < v.size(); ++i) {
    float e = v[i] + scale * x[i];
    e = std::isnan(e) ? 0.f : (std::isinf(e) ? (e > 0 ? FLT_MAX : -FLT_MAX) : e);
    EXPECT_EQ(got[i], e) << i;
  }
  DeviceBuffer<float> d_a(std::vector<float>(7, 5.f));
  kernels::mppi_accumulate_cuda(d_a.get(), d_x.get(), 7, 1.f, kernels::MppiAccumulate::kAssign, nullptr);
  kernels::mppi_accumulate_cuda(d_a.get(), d_x.get(), 7, 0.5f, kernels::MppiAccumulate::kAdd, nullptr);
  const std::vector<float> a = d_a.download();
  EXPECT_EQ(a[0], 1.f + 0.5f * 1.f);
  EXPECT_EQ(a[1], -2.f + 0.5f * -2.f);
}

TEST_F(PlanningKernels, EliteRefitMatchesPartialSortAndEliteRefit) {
  const int H = 3, A = 4, S = 70, K = 9;
  const float temp = 0.5f, min_std = 0.05f, max_std = 2.f;
  for (int threads : {32, 128, 256})
    for (int B : {1, 3}) {
      cuda::ScopedBlockThreads block(threads);
      const std::int64_t step_rows = 3 * S;
      auto value = random_vector(static_cast<std::size_t>(B) * S, 7, -5.f, 5.f);
      for (int b = 0; b < B; ++b)  // ties among the best: the lower index must win
        value[b * S + 10] = value[b * S + 40] = value[b * S + 55] = 6.f;
      const auto actions = random_vector(static_cast<std::size_t>(H) * step_rows * A, 8);
      std::vector<float> mean(static_cast<std::size_t>(B) * H * A), sd(mean.size()), elite_f, score_ref,
          trace;
      for (int b = 0; b < B; ++b) {
        const float* val = value.data() + b * S;
        std::vector<int> order(S);
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + K, order.end(),
                          [val](int x, int y) { return val[x] > val[y] || (val[x] == val[y] && x < y); });
        float max_v = -FLT_MAX, sum = 0.f, m = 0.f, total = 0.f;
        for (int e = 0; e < K; ++e) max_v = std::max(max_v, val[order[e]]);
        std::vector<float> w(K);
        for (int e = 0; e < K; ++e) sum += (w[e] = std::exp(temp * (val[order[e]] - max_v)));
        for (int e = 0; e < K; ++e) {
          w[e] /= sum;
          m += val[order[e]] / static_cast<float>(K);
        }
        for (int e = 0; e < K; ++e) {
          total += w[e];
          elite_f.push_back(static_cast<float>(order[e]));
          score_ref.push_back(w[e]);
        }
        trace.push_back(m);
        for (int t = 0; t < H; ++t)
          planners::elite_refit(actions.data() + (t * step_rows + b * S) * A, order.data(), w.data(), K, A,
                                total + 1e-9f, min_std, max_std, mean.data() + (b * H + t) * A,
                                sd.data() + (b * H + t) * A);
      }
      DeviceBuffer<float> d_v(value), d_act(actions), d_mean(mean.size()), d_sd(mean.size()),
          d_elite(static_cast<std::size_t>(B) * K), d_score(static_cast<std::size_t>(B) * K),
          d_trace(static_cast<std::size_t>(B));
      kernels::mppi_elite_refit_cuda(d_v.get(), d_act.get(), d_mean.get(), d_sd.get(), d_elite.get(),
                                     d_score.get(), d_trace.get(), B, S, K, H, A, step_rows, temp, min_std,
                                     max_std, nullptr);
      SCOPED_TRACE(::testing::Message() << "threads " << threads << ", B " << B);
      EXPECT_TRUE(all_close(d_elite.download().data(), elite_f.data(), elite_f.size(), 0, 0)) << "elites";
      EXPECT_TRUE(all_close(d_score.download().data(), score_ref.data(), score_ref.size(), 1e-7, 1e-6));
      EXPECT_TRUE(all_close(d_trace.download().data(), trace.data(), trace.size(), 0, 0));
      EXPECT_TRUE(all_close(d_mean.download().data(), mean.data(), mean.size(), 1e-6, 1e-5));
      EXPECT_TRUE(all_close(d_sd.download().data(), sd.data(), sd.size(), 1e-6, 1e-5));
    }
}

}  // namespace
}  // namespace lucid
