// Softmax / log-softmax, SimNorm, two-hot, soft cross-entropy and the row/column reductions on the
// emulated GPU against their CPU references (softmax_*_cpu, reduce_*_cpu), sweeping widths that
// are and are not powers of two or multiples of 32, odd row counts and block sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "emu_fixture.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/reduce.h"
#include "lucid/kernels/cuda/softmax.h"
#include "lucid/kernels/reduce.h"
#include "lucid/kernels/softmax.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using testing::all_close;
using testing::DeviceBuffer;
using testing::random_vector;

class SoftmaxCuda : public testing::EmuTest {};
class ReduceCuda : public testing::EmuTest {};

constexpr int kBins = 101;
constexpr float kVmin = -10.f, kVmax = 10.f;

TEST_F(SoftmaxCuda, ForwardAndBackwardMatchCpu) {
  std::uint64_t seed = 1;
  for (int threads : {32, 128, 256})
    for (std::int64_t cols : {1, 2, 3, 8, 17, 32, 45, 101, 300})
      for (std::int64_t rows : {1, 13}) {
        for (bool log : {false, true}) {
          cuda::ScopedBlockThreads launch(threads);
          SCOPED_TRACE(::testing::Message()
                       << "threads=" << threads << " rows=" << rows << " cols=" << cols << " log=" << log);
          const auto n = static_cast<std::size_t>(rows * cols);
          const auto x = random_vector(n, seed++, -4.f, 4.f), gy = random_vector(n, seed++);
          std::vector<float> y_ref(n), gx_ref(n);
          kernels::softmax_forward_cpu(x.data(), y_ref.data(), rows, cols, log);
          kernels::softmax_backward_cpu(y_ref.data(), gy.data(), gx_ref.data(), rows, cols, log);
          DeviceBuffer<float> dx(x), dgy(gy), y(n), gx(n);
          kernels::softmax_forward_cuda(dx.get(), y.get(), rows, cols, log, nullptr);
          kernels::softmax_backward_cuda(y.get(), dgy.get(), gx.get(), rows, cols, log, nullptr);
          EXPECT_TRUE(all_close(y.download().data(), y_ref.data(), n, 1e-6, 1e-5));
          EXPECT_TRUE(all_close(gx.download().data(), gx_ref.data(), n, 1e-6, 1e-4));
        }
      }
}

TEST_F(SoftmaxCuda, SimNormIsGroupwiseSoftmax) {
  // TD-MPC2 latent: 512 features in groups of 8; also a narrow odd batch and groups of 4.
  for (auto [rows, dim, group] :
       {std::tuple<std::int64_t, std::int64_t, std::int64_t>{5, 512, 8}, {3, 12, 4}}) {
    const auto n = static_cast<std::size_t>(rows * dim);
    const auto x = random_vector(n, 40, -3.f, 3.f), gy = random_vector(n, 41);
    std::vector<float> y_ref(n), gx_ref(n);
    kernels::softmax_forward_cpu(x.data(), y_ref.data(), rows * dim / group, group, false);
    kernels::softmax_backward_cpu(y_ref.data(), gy.data(), gx_ref.data(), rows * dim / group, group, false);
    DeviceBuffer<float> dx(x), dgy(gy), y(n), gx(n);
    kernels::simnorm_forward_cuda(dx.get(), y.get(), rows, dim, group, nullptr);
    kernels::simnorm_backward_cuda(y.get(), dgy.get(), gx.get(), rows, dim, group, nullptr);
    const auto got = y.download();
    EXPECT_TRUE(all_close(got.data(), y_ref.data(), n, 1e-6, 1e-5));
    EXPECT_TRUE(all_close(gx.download().data(), gx_ref.data(), n, 1e-6, 1e-4));
    for (std::int64_t g = 0; g < rows * dim / group; ++g) {  // every simplex sums to one
      float s = 0.f;
      for (std::int64_t k = 0; k < group; ++k) s += got[static_cast<std::size_t>(g * group + k)];
      EXPECT_NEAR(s, 1.f, 1e-5);
    }
  }
  DeviceBuffer<float> d(16);
  EXPECT_THROW(kernels::simnorm_forward_cuda(d.get(), d.get(), 1, 12, 8, nullptr), ShapeError);
}

TEST_F(SoftmaxCuda, TwoHotAndSoftCrossEntropyMatchCpu) {
  for (int threads : {64, 256}) {
    cuda::ScopedBlockThreads launch(threads);
    const std::int64_t rows = 37;
    // Targets across the whole range, including beyond the clamp at |symlog| = 10 and exact zeros.
    auto target = random_vector(static_cast<std::size_t>(rows), 50, -300.f, 300.f);
    target[0] = 0.f, target[1] = 1e6f, target[2] = -1e6f;
    const auto logits = random_vector(static_cast<std::size_t>(rows * kBins), 51, -3.f, 3.f);
    const auto gloss = random_vector(static_cast<std::size_t>(rows), 52);
    const auto nb = static_cast<std::size_t>(rows * kBins);
    std::vector<float> th_ref(nb), loss_ref(rows), lse_ref(rows), g_ref(nb);
    kernels::two_hot_cpu(target.data(), th_ref.data(), rows, kBins, kVmin, kVmax);
    kernels::soft_ce_forward_cpu(logits.data(), target.data(), loss_ref.data(), lse_ref.data(), rows, kBins,
                                 kVmin, kVmax);
    kernels::soft_ce_backward_cpu(logits.data(), target.data(), lse_ref.data(), gloss.data(), g_ref.data(),
                                  rows, kBins, kVmin, kVmax);
    DeviceBuffer<float> dt(target), dl(logits), dg(gloss), th(nb), loss(rows), lse(rows), g(nb);
    kernels::two_hot_cuda(dt.get(), th.get(), rows, kBins, kVmin, kVmax, nullptr);
    kernels::soft_ce_forward_cuda(dl.get(), dt.get(), loss.get(), lse.get(), rows, kBins, kVmin, kVmax,
                                  nullptr);
    kernels::soft_ce_backward_cuda(dl.get(), dt.get(), lse.get(), dg.get(), g.get(), rows, kBins, kVmin,
                                   kVmax, nullptr);
    EXPECT_TRUE(all_close(th.download().data(), th_ref.data(), nb, 1e-6, 1e-6));
    EXPECT_TRUE(
        all_close(loss.download().data(), loss_ref.data(), static_cast<std::size_t>(rows), 1e-5, 1e-5));
    EXPECT_TRUE(all_close(lse.download().data(), lse_ref.data(), static_cast<std::size_t>(rows), 1e-5, 1e-5));
    EXPECT_TRUE(all_close(g.download().data(), g_ref.data(), nb, 1e-6, 1e-4));
  }
}

TEST_F(ReduceCuda, RowReductionsMatchCpuIncludingFirstArgOnTies) {
  std::uint64_t seed = 60;
  for (int threads : {32, 64, 256})
    for (std::int64_t cols : {1, 7, 32, 33, 100, 1000})
      for (kernels::ReduceOp op :
           {kernels::ReduceOp::kSum, kernels::ReduceOp::kMax, kernels::ReduceOp::kMin}) {
        cuda::ScopedBlockThreads launch(threads);
        const std::int64_t rows = 11;
        const auto n = static_cast<std::size_t>(rows * cols);
        auto x = random_vector(n, seed++);
        for (std::size_t i = 0; i < n; i += 3) x[i] = std::round(x[i] * 2.f);  // plant ties for arg
        std::vector<float> out_ref(rows);
        std::vector<std::int64_t> arg_ref(rows, -7);
        kernels::reduce_last_cpu(op, x.data(), out_ref.data(), arg_ref.data(), rows, cols);
        DeviceBuffer<float> dx(x), out(rows);
        DeviceBuffer<std::int64_t> arg(std::vector<std::int64_t>(rows, -7));
        kernels::reduce_last_cuda(op, dx.get(), out.get(), arg.get(), rows, cols, nullptr);
        EXPECT_TRUE(
            all_close(out.download().data(), out_ref.data(), static_cast<std::size_t>(rows), 1e-5, 1e-5))
            << "op=" << static_cast<int>(op) << " cols=" << cols << " threads=" << threads;
        if (op != kernels::ReduceOp::kSum) {
          EXPECT_EQ(arg.download(), arg_ref) << "cols=" << cols;
        }
      }
}

TEST_F(ReduceCuda, LeadingSumMatchesCpu) {
  std::uint64_t seed = 80;
  for (std::int64_t rows : {1, 5, 8, 100})
    for (std::int64_t cols : {1, 31, 33, 512}) {
      const auto x = random_vector(static_cast<std::size_t>(rows * cols), seed++);
      std::vector<float> ref(static_cast<std::size_t>(cols));
      kernels::reduce_leading_sum_cpu(x.data(), ref.data(), rows, cols);
      DeviceBuffer<float> dx(x), out(static_cast<std::size_t>(cols));
      kernels::reduce_leading_sum_cuda(dx.get(), out.get(), rows, cols, nullptr);
      EXPECT_TRUE(all_close(out.download().data(), ref.data(), ref.size(), 1e-5, 1e-5))
          << "rows=" << rows << " cols=" << cols;
    }
}

}  // namespace
}  // namespace lucid
