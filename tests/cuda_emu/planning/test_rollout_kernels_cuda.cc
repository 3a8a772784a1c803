// The device action gradient's rollout epilogues (kernels/cuda/rollout.cu) against the CPU loops
// of models/tdmpc2/action_gradient.cc, under the emulator with random fiber order, over block
// sizes and shapes that are not multiples of 32. Same float order, so the results are exact.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "emu_fixture.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/rollout.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using testing::all_close;
using testing::DeviceBuffer;
using testing::random_vector;

class RolloutKernels : public testing::EmuTest {};

TEST_F(RolloutKernels, AccumulateAssignsOrAddsTheScaledInput) {
  for (int threads : {32, 96})
    for (std::int64_t n : {1, 5, 77}) {
      cuda::ScopedBlockThreads block(threads);
      const auto x = random_vector(static_cast<std::size_t>(n), 21);
      const auto y0 = random_vector(static_cast<std::size_t>(n), 22);
      std::vector<float> assigned(y0.size()), added(y0.size());
      for (std::size_t i = 0; i < y0.size(); ++i) {
        assigned[i] = 0.f + 0.97f * x[i];
        added[i] = y0[i] + 0.97f * x[i];
      }
      DeviceBuffer<float> d_x(x), d_a(y0), d_b(y0);
      kernels::rollout_accumulate_cuda(d_a.get(), d_x.get(), 0.97f, true, n, nullptr);
      kernels::rollout_accumulate_cuda(d_b.get(), d_x.get(), 0.97f, false, n, nullptr);
      EXPECT_TRUE(all_close(d_a.download().data(), assigned.data(), assigned.size(), 0, 0));
      EXPECT_TRUE(all_close(d_b.download().data(), added.data(), added.size(), 0, 0));
    }
}

TEST_F(RolloutKernels, UncertaintyIsTheCpuLoopOverEveryEntryOfARow) {
  for (int threads : {32, 64})
    for (int K : {1, 2, 5})
      for (auto [rows, steps] : {std::pair{1, 1}, std::pair{5, 4}, std::pair{37, 3}}) {
        cuda::ScopedBlockThreads block(threads);
        const std::int64_t n = std::int64_t{rows} * steps;
        const auto values = random_vector(static_cast<std::size_t>(K * n), 23, -3.f, 3.f);
        const auto value0 = random_vector(static_cast<std::size_t>(rows), 24);
        std::vector<float> want = value0;  // the CPU loop, verbatim
        for (std::int64_t i = 0; i < n; ++i) {
          float mean = 0.f;
          for (int k = 0; k < K; ++k) mean += values[k * n + i];
          mean /= static_cast<float>(K);
          float var = 0.f;
          for (int k = 0; k < K; ++k) var += (values[k * n + i] - mean) * (values[k * n + i] - mean);
          const float sd = K > 1 ? std::sqrt(var / static_cast<float>(K - 1)) : 0.f;
          want[i % rows] -= 0.01f * mean * sd;
        }
        DeviceBuffer<float> d_values(values), d_value(value0);
        kernels::ensemble_uncertainty_cuda(d_values.get(), K, n, rows, 0.01f, d_value.get(), nullptr);
        EXPECT_TRUE(all_close(d_value.download().data(), want.data(), want.size(), 0, 0))
            << "K " << K << " rows " << rows << " steps " << steps;
      }
}

TEST_F(RolloutKernels, AccumulateRowsAddsOnlyTheStridedBlock) {
  for (int threads : {32, 256}) {
    cuda::ScopedBlockThreads block(threads);
    const int rows = 7, width = 45, src_ld = 52, dst_ld = 48;
    const auto src = random_vector(static_cast<std::size_t>(rows) * src_ld, 25);
    const auto dst0 = random_vector(static_cast<std::size_t>(rows) * dst_ld, 26);
    std::vector<float> want = dst0;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < width; ++c) want[r * dst_ld + c] += src[r * src_ld + 3 + c];
    DeviceBuffer<float> d_src(src), d_dst(dst0);
    kernels::accumulate_rows_cuda(d_src.get() + 3, src_ld, d_dst.get(), dst_ld, rows, width, nullptr);
    EXPECT_TRUE(all_close(d_dst.download().data(), want.data(), want.size(), 0, 0));  // padding untouched too
  }
}

TEST_F(RolloutKernels, RejectsAnEntryCountThatIsNotWholeRows) {
  DeviceBuffer<float> d_values(std::vector<float>(10)), d_value(std::vector<float>(3));
  EXPECT_THROW(kernels::ensemble_uncertainty_cuda(d_values.get(), 2, 5, 3, 0.01f, d_value.get(), nullptr),
               ShapeError);
}

}  // namespace
}  // namespace lucid
