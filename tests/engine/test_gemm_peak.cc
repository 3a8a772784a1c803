// kernels::sgemm_peak_gflops, the roof plan-bench reports against: a positive rate, lucid's
// thread policy (OpenBLAS on one thread) restored afterwards, and bad arguments refused.
#include <cblas.h>
#include <gtest/gtest.h>

#include "lucid/error.h"
#include "lucid/kernels/gemm_peak.h"

namespace {

TEST(SgemmPeak, MeasuresAPositiveRateAndHandsOpenBlasBack) {
  const double gflops = lucid::kernels::sgemm_peak_gflops(2, 128, 3);
  EXPECT_GT(gflops, 0.1);
  EXPECT_LT(gflops, 1e5);  // 128^3 in under 42 ns would be a clock error, not a CPU
  EXPECT_EQ(openblas_get_num_threads(), 1);
}

TEST(SgemmPeak, RefusesNonPositiveArguments) {
  EXPECT_THROW(lucid::kernels::sgemm_peak_gflops(0), lucid::Error);
  EXPECT_THROW(lucid::kernels::sgemm_peak_gflops(1, 0), lucid::Error);
  EXPECT_THROW(lucid::kernels::sgemm_peak_gflops(1, 64, 0), lucid::Error);
}

}  // namespace
