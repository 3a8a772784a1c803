// kernels::copy_cpu / fill_cpu: every element written, none past the end, on one thread and split
// over two (the split starts at 2^16 floats), from inside a parallel region too.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "lucid/kernels/copy.h"
#include "lucid/kernels/threading.h"

namespace {

using lucid::kernels::copy_cpu;
using lucid::kernels::fill_cpu;

TEST(CopyKernel, CopiesAndFillsExactlyTheRange) {
  for (const int threads : {1, 2}) {
    lucid::kernels::set_num_threads(threads);
    for (const std::int64_t n :
         {std::int64_t{0}, std::int64_t{5}, std::int64_t{1} << 16, (std::int64_t{1} << 18) + 3}) {
      std::vector<float> src(static_cast<std::size_t>(n) + 1), dst(static_cast<std::size_t>(n) + 1, -1.f);
      for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i) * 0.5f + 1.f;
      copy_cpu(src.data(), dst.data(), n);
      for (std::int64_t i = 0; i < n; ++i)
        ASSERT_EQ(dst[static_cast<std::size_t>(i)], src[static_cast<std::size_t>(i)]) << i;
      EXPECT_EQ(dst.back(), -1.f) << "wrote past n = " << n;
      fill_cpu(dst.data(), n, 3.f);
      for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(dst[static_cast<std::size_t>(i)], 3.f) << i;
      EXPECT_EQ(dst.back(), -1.f) << "filled past n = " << n;
    }
  }
  lucid::kernels::set_num_threads(1);
}

TEST(CopyKernel, WorksFromInsideAParallelRegion) {
  lucid::kernels::set_num_threads(2);
  const std::int64_t n = std::int64_t{1} << 17;
  std::vector<float> src(static_cast<std::size_t>(2 * n), 2.f), dst(static_cast<std::size_t>(2 * n), 0.f);
#pragma omp parallel num_threads(2)
  {
#pragma omp for
    for (int h = 0; h < 2; ++h) copy_cpu(src.data() + h * n, dst.data() + h * n, n);
  }
  for (float v : dst) ASSERT_EQ(v, 2.f);
  lucid::kernels::set_num_threads(1);
}

}  // namespace
