// The CPU softmax kernel against a float64 reference: every row width from 1 to 17 and 101 (the
// two-hot bins), with SimNorm's 8-wide rows in both the paired-vector path and its odd last row;
// inputs spanning the float range must stay finite and sum to one per row.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "lucid/engine/rng.h"
#include "lucid/kernels/softmax.h"

namespace {

namespace k = lucid::kernels;

// n floats uniform in [lo, hi).
std::vector<float> uniform(std::size_t n, float lo, float hi, std::uint64_t seed) {
  std::vector<float> v(n);
  lucid::Rng(seed).uniform(v.data(), n);
  for (float& x : v) x = lo + (hi - lo) * x;
  return v;
}

std::vector<double> softmax_ref(const std::vector<float>& x, std::int64_t rows, std::int64_t cols) {
  std::vector<double> y(x.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    double mx = x[r * cols];
    for (std::int64_t c = 1; c < cols; ++c) mx = std::max(mx, static_cast<double>(x[r * cols + c]));
    double s = 0;
    for (std::int64_t c = 0; c < cols; ++c) s += std::exp(static_cast<double>(x[r * cols + c]) - mx);
    for (std::int64_t c = 0; c < cols; ++c) y[r * cols + c] = std::exp(x[r * cols + c] - mx) / s;
  }
  return y;
}

// Max relative error over entries that are not denormal-small, and the worst |row sum - 1|.
struct Errors {
  double rel = 0, sum = 0;
};

Errors compare(const std::vector<float>& x, std::int64_t rows, std::int64_t cols) {
  std::vector<float> y(x.size());
  k::softmax_forward_cpu(x.data(), y.data(), rows, cols, false);
  const std::vector<double> ref = softmax_ref(x, rows, cols);
  Errors e;
  for (std::int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::int64_t i = r * cols + c;
      EXPECT_TRUE(std::isfinite(y[i])) << "row " << r << " col " << c;
      s += y[i];
      if (ref[i] > 1e-30) e.rel = std::max(e.rel, std::abs(y[i] - ref[i]) / ref[i]);
    }
    e.sum = std::max(e.sum, std::abs(s - 1.0));
  }
  return e;
}

TEST(SoftmaxKernel, MatchesFloat64ForEveryWidth) {
  std::vector<std::int64_t> widths;
  for (std::int64_t c = 1; c <= 17; ++c) widths.push_back(c);
  widths.push_back(101);
  for (std::int64_t cols : widths) {
    for (std::int64_t rows : {1, 2, 7, 64, 1025}) {  // odd counts leave a single 8-wide row at the end
      const std::vector<float> x = uniform(static_cast<std::size_t>(rows * cols), -6.f, 6.f,
                                           static_cast<std::uint64_t>(cols * 1000 + rows));
      const Errors e = compare(x, rows, cols);
      // The float shift x - max rounds by up to half an ulp of |x - max| <= 12, which is up to
      // 4.8e-7 relative after exp; exp_poly (2 ulp), the sum and the divide add the rest.
      // Measured: up to 8e-7.
      EXPECT_LT(e.rel, 1.5e-6) << cols << " wide, " << rows << " rows";
      EXPECT_LT(e.sum, 2e-6) << cols << " wide, " << rows << " rows";
    }
  }
}

// A NaN logit must not be hidden: its whole row comes out NaN (as the scalar path does), in the
// paired 8-wide path and the generic one.
TEST(SoftmaxKernel, ANanPoisonsItsRowOnly) {
  for (std::int64_t cols : {8, 13}) {
    for (std::int64_t nan_col : {std::int64_t{0}, cols - 1}) {
      const std::int64_t rows = 4;
      std::vector<float> x = uniform(static_cast<std::size_t>(rows * cols), -1.f, 1.f, 5);
      x[1 * cols + nan_col] = std::nanf("");
      std::vector<float> y(x.size());
      k::softmax_forward_cpu(x.data(), y.data(), rows, cols, false);
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c)
          EXPECT_EQ(std::isnan(y[r * cols + c]), r == 1) << cols << " wide, row " << r << " col " << c;
    }
  }
}

TEST(SoftmaxKernel, ExtremeInputsStayFiniteAndNormalised) {
  for (std::int64_t cols : {8, 13}) {
    const std::int64_t rows = 9;
    std::vector<float> x = uniform(static_cast<std::size_t>(rows * cols), -1.f, 1.f, 3);
    for (std::int64_t c = 0; c < cols; ++c) {
      x[0 * cols + c] = 1e30f;                    // all equal and huge: uniform
      x[1 * cols + c] = -1e30f;                   // all equal and very negative: uniform
      x[2 * cols + c] = c == 3 ? 200.f : -200.f;  // one winner far ahead: the rest ~0 (exp_poly
                                                  // clamps at e^-87.3 = 1.2e-38 instead of 0)
      x[3 * cols + c] += 80.f;                    // beyond float exp's range once unshifted
    }
    const Errors e = compare(x, rows, cols);
    EXPECT_LT(e.sum, 2e-6) << cols;
    std::vector<float> y(x.size());
    k::softmax_forward_cpu(x.data(), y.data(), rows, cols, false);
    for (std::int64_t c = 0; c < cols; ++c) {
      EXPECT_FLOAT_EQ(y[0 * cols + c], 1.f / static_cast<float>(cols));
      EXPECT_FLOAT_EQ(y[1 * cols + c], 1.f / static_cast<float>(cols));
      EXPECT_NEAR(y[2 * cols + c], c == 3 ? 1.f : 0.f, 1e-37f);
    }
  }
}

}  // namespace
