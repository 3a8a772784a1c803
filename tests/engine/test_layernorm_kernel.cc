// The CPU LayerNorm(+Mish) forward kernel against a float64 reference, for every row width from 1
// to 40 (vector bodies and masked tails) and the model widths 101, 384 and 512: mean and 1/std to
// float rounding, y within a few ulp of the float64 value of mish(gamma (x - mean) / std + beta).
// Then the edges of the fused Mish: above 20 it returns its input exactly (torch's softplus
// threshold), far below 0 a finite value next to zero, and a NaN stays NaN. Last, the MLP layer's
// fused backward (mask and bias sums on the LayerNorm backward's pass) against the three steps,
// and the forward that masks its input in place against masking first. Then the AVX2 rows
// (layernorm_rows_avx2.h), forward and backward, against the per-ISA clones they stand in for.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "cpu/layernorm_rows_avx2.h"
#include "lucid/engine/rng.h"
#include "lucid/kernels/cpu_features.h"
#include "lucid/kernels/layernorm.h"
#include "lucid/kernels/threading.h"

namespace {

namespace k = lucid::kernels;

constexpr float kEps = 1e-5f;

std::vector<float> uniform(std::size_t n, float lo, float hi, std::uint64_t seed) {
  std::vector<float> v(n);
  lucid::Rng(seed).uniform(v.data(), n);
  for (float& x : v) x = lo + (hi - lo) * x;
  return v;
}

double mish_ref(double t) { return t * std::tanh(t > 20.0 ? t : std::log1p(std::exp(t))); }

struct Outputs {
  std::vector<float> y, mean, rstd;
};

Outputs forward(const std::vector<float>& x, const std::vector<float>& g, const std::vector<float>& b,
                std::int64_t rows, std::int64_t cols, bool mish) {
  Outputs r{std::vector<float>(x.size()), std::vector<float>(rows), std::vector<float>(rows)};
  k::layernorm_forward_cpu(x.data(), g.data(), b.data(), r.y.data(), r.mean.data(), r.rstd.data(), rows, cols,
                           kEps, mish);
  return r;
}

TEST(LayerNormKernel, MatchesFloat64ForEveryWidthWithAndWithoutMish) {
  std::vector<std::int64_t> widths;
  for (std::int64_t c = 1; c <= 40; ++c) widths.push_back(c);
  for (std::int64_t c : {101, 384, 512}) widths.push_back(c);
  const std::int64_t rows = 7;
  for (const std::int64_t cols : widths) {
    const auto n = static_cast<std::size_t>(rows * cols);
    // An offset of 3 keeps the mean away from zero, so the centring is exercised.
    const std::vector<float> x = uniform(n, 1.f, 5.f, 11 + static_cast<std::uint64_t>(cols));
    const std::vector<float> g = uniform(static_cast<std::size_t>(cols), 0.5f, 2.f, 3);
    const std::vector<float> b = uniform(static_cast<std::size_t>(cols), -1.f, 1.f, 4);
    for (const bool mish : {false, true}) {
      const Outputs r = forward(x, g, b, rows, cols, mish);
      for (std::int64_t i = 0; i < rows; ++i) {
        double m = 0, v = 0;
        for (std::int64_t c = 0; c < cols; ++c) m += x[i * cols + c];
        m /= static_cast<double>(cols);
        for (std::int64_t c = 0; c < cols; ++c) v += (x[i * cols + c] - m) * (x[i * cols + c] - m);
        const double rs = 1.0 / std::sqrt(v / static_cast<double>(cols) + kEps);
        ASSERT_NEAR(r.mean[i], m, 1e-6 * std::abs(m)) << cols << " cols, row " << i;
        ASSERT_NEAR(r.rstd[i], rs, 2e-6 * rs) << cols << " cols, row " << i;
        for (std::int64_t c = 0; c < cols; ++c) {
          const double t = (x[i * cols + c] - m) * rs * g[c] + b[c];
          const double want = mish ? mish_ref(t) : t;
          // LayerNorm's float statistics move t by ~1e-6 of |t| + 1; the activation adds a few ulp.
          ASSERT_NEAR(r.y[i * cols + c], want, 4e-6 * (std::abs(t) + 1.0))
              << cols << " cols, row " << i << ", col " << c << (mish ? " (mish)" : "");
        }
      }
    }
  }
}

// gamma = 0 makes every normalised value exactly beta, so the activation's input is known exactly.
TEST(LayerNormKernel, FusedMishIsExactAboveTwentyFiniteFarBelowZeroAndKeepsNaN) {
  for (const std::int64_t cols : {5, 16, 37, 384}) {
    const auto n = static_cast<std::size_t>(cols);
    const std::vector<float> x = uniform(n, -1.f, 1.f, 5);
    const std::vector<float> zero(n, 0.f);
    for (const float beta : {20.5f, 25.f, 1e4f}) {
      const Outputs r = forward(x, zero, std::vector<float>(n, beta), 1, cols, true);
      for (float y : r.y) ASSERT_EQ(y, beta) << cols << " cols";
    }
    for (const float beta : {-30.f, -100.f, -1e6f}) {
      const Outputs r = forward(x, zero, std::vector<float>(n, beta), 1, cols, true);
      for (float y : r.y) {
        ASSERT_TRUE(std::isfinite(y)) << beta;
        ASSERT_LE(y, 0.f) << beta;
        ASSERT_GT(y, -1e-6f) << beta;  // mish(t) -> 0 as t -> -inf
      }
    }
    std::vector<float> with_nan = x;
    with_nan[n / 2] = std::numeric_limits<float>::quiet_NaN();
    const Outputs r = forward(with_nan, std::vector<float>(n, 1.f), zero, 1, cols, true);
    for (float y : r.y) ASSERT_TRUE(std::isnan(y)) << cols << " cols";
  }
}

// layernorm_backward_linear_cpu against layernorm_backward_cpu, then gx *= mask, then the column
// sums in float64: gx bit for bit (the same arithmetic per element), dbias to float rounding of a
// sum of `rows` terms, accumulated onto what dbias held; dgamma/dbeta bit for bit. Sizes from one
// row to a batch large enough that the rows split over the threads (kParallelGrain), widths with
// and without vector tails.
TEST(LayerNormKernel, LinearBackwardIsTheKernelThenTheMaskThenTheColumnSums) {
  lucid::kernels::init_threads();
  struct Size {
    std::int64_t rows, cols;
  };
  for (const Size sz : {Size{1, 5}, Size{7, 37}, Size{33, 101}, Size{768, 512}}) {
    const auto n = static_cast<std::size_t>(sz.rows * sz.cols);
    const auto c = static_cast<std::size_t>(sz.cols);
    const std::vector<float> x = uniform(n, -2.f, 3.f, 21);
    const std::vector<float> gy = uniform(n, -1.f, 1.f, 22);
    const std::vector<float> g = uniform(c, 0.5f, 2.f, 23), b = uniform(c, -1.f, 1.f, 24);
    std::vector<float> mask = uniform(n, 0.f, 1.f, 25);
    for (float& m : mask) m = m < 0.1f ? 0.f : 1.f / 0.9f;       // dropout 0.1: keep/(1-p) or 0
    const std::vector<float> bias0 = uniform(c, -1.f, 1.f, 26);  // dbias accumulates
    for (const bool mish : {false, true}) {
      for (const bool with_mask : {false, true}) {
        const Outputs f = forward(x, g, b, sz.rows, sz.cols, mish);
        std::vector<float> gx_ref(n), dg_ref(c, 0.f), db_ref(c, 0.f);
        k::layernorm_backward_cpu(x.data(), g.data(), b.data(), f.mean.data(), f.rstd.data(), gy.data(),
                                  gx_ref.data(), dg_ref.data(), db_ref.data(), sz.rows, sz.cols, mish);
        if (with_mask)
          for (std::size_t i = 0; i < n; ++i) gx_ref[i] *= mask[i];
        std::vector<float> gx(n), dg(c, 0.f), db(c, 0.f), dbias = bias0;
        k::layernorm_backward_linear_cpu(x.data(), g.data(), b.data(), f.mean.data(), f.rstd.data(),
                                         gy.data(), gx.data(), with_mask ? mask.data() : nullptr, dg.data(),
                                         db.data(), dbias.data(), sz.rows, sz.cols, mish);
        const std::string what = std::to_string(sz.rows) + "x" + std::to_string(sz.cols) +
                                 (mish ? " mish" : "") + (with_mask ? " mask" : "");
        for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(gx[i], gx_ref[i]) << what << ", element " << i;
        for (std::size_t j = 0; j < c; ++j) {
          ASSERT_EQ(dg[j], dg_ref[j]) << what << ", dgamma " << j;
          ASSERT_EQ(db[j], db_ref[j]) << what << ", dbeta " << j;
          double sum = bias0[j], mag = std::abs(bias0[j]);
          for (std::int64_t r = 0; r < sz.rows; ++r) {
            sum += gx_ref[static_cast<std::size_t>(r) * c + j];
            mag += std::abs(gx_ref[static_cast<std::size_t>(r) * c + j]);
          }
          ASSERT_NEAR(dbias[j], sum, 1e-6 * mag + 1e-7) << what << ", dbias " << j;
        }
      }
    }
  }
  // Without gx there is nothing to mask or sum: refused rather than ignored.
  std::vector<float> x(4, 1.f), m(1, 0.f), r(1, 1.f), d(4, 0.f);
  EXPECT_ANY_THROW(k::layernorm_backward_linear_cpu(x.data(), x.data(), x.data(), m.data(), r.data(),
                                                    x.data(), nullptr, nullptr, nullptr, nullptr, d.data(), 1,
                                                    4, false));
}

// layernorm_forward_masked_cpu: x comes back multiplied by the mask, and y, mean and rstd are bit
// for bit the plain kernel's on that masked x, with rows split over the threads at the largest size.
TEST(LayerNormKernel, MaskedForwardMasksXInPlaceThenNormalises) {
  lucid::kernels::init_threads();
  for (const std::int64_t rows : {1, 9, 768}) {
    for (const std::int64_t cols : {7, 101, 512}) {
      const auto n = static_cast<std::size_t>(rows * cols);
      const std::vector<float> x0 = uniform(n, -2.f, 3.f, 31);
      const std::vector<float> g = uniform(static_cast<std::size_t>(cols), 0.5f, 2.f, 32);
      const std::vector<float> b = uniform(static_cast<std::size_t>(cols), -1.f, 1.f, 33);
      std::vector<float> mask = uniform(n, 0.f, 1.f, 34);
      for (float& m : mask) m = m < 0.1f ? 0.f : 1.f / 0.9f;
      std::vector<float> masked = x0;
      for (std::size_t i = 0; i < n; ++i) masked[i] *= mask[i];
      for (const bool mish : {false, true}) {
        const Outputs want = forward(masked, g, b, rows, cols, mish);
        std::vector<float> x = x0, y(n), mean(static_cast<std::size_t>(rows)), rstd(mean.size());
        k::layernorm_forward_masked_cpu(x.data(), mask.data(), g.data(), b.data(), y.data(), mean.data(),
                                        rstd.data(), rows, cols, kEps, mish);
        ASSERT_EQ(x, masked) << rows << "x" << cols;
        ASSERT_EQ(y, want.y) << rows << "x" << cols << (mish ? " mish" : "");
        ASSERT_EQ(mean, want.mean) << rows << "x" << cols;
        ASSERT_EQ(rstd, want.rstd) << rows << "x" << cols;
      }
    }
  }
}

// An AVX2 row's output against the clone's: NaN where the clone has NaN; elsewhere the same bits
// where the two are the same arithmetic (the clone is the x86-64-v3 one), else within rel_tol.
void expect_same_as_clone(const std::vector<float>& got, const std::vector<float>& want, bool same_arithmetic,
                          float rel_tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i]))
      ASSERT_TRUE(std::isnan(got[i])) << what << " [" << i << "]";
    else if (same_arithmetic)
      ASSERT_EQ(std::bit_cast<std::uint32_t>(got[i]), std::bit_cast<std::uint32_t>(want[i]))
          << what << " [" << i << "]";
    else
      ASSERT_NEAR(got[i], want[i], rel_tol * (std::abs(want[i]) + 1.f)) << what << " [" << i << "]";
  }
}

// The AVX2 rows (four rows' statistics at once, intrinsics) against the one-row clones, for row
// counts that leave every remainder of the group of four, widths from one vector to the model's,
// and affine outputs that reach every branch of the fused Mish: above 20, below exp_poly's -87.3
// clamp, around zero, and a NaN that must poison its row only. Where the clone is the x86-64-v3 one
// (an AVX2 CPU without AVX-512) the two are the same arithmetic and must agree bit for bit; with
// AVX-512 the clone sums 16 lanes, so there they agree to float rounding.
TEST(LayerNormKernel, Avx2RowsEqualTheClonedRows) {
  if (!k::cpu_has_avx2_fma()) GTEST_SKIP() << "this CPU has no AVX2+FMA: the AVX2 rows never run here";
  const bool same_arithmetic = !k::cpu_has_avx512f();
  for (const std::int64_t rows : {1, 2, 3, 4, 5, 7, 11}) {
    for (const std::int64_t cols : {8, 16, 24, 40, 104, 512}) {
      const auto n = static_cast<std::size_t>(rows * cols);
      std::vector<float> x = uniform(n, -3.f, 4.f, 41 + static_cast<std::uint64_t>(rows * cols));
      // gamma spans 0.1..60 so that (x - mean) rstd gamma + beta lands from about -200 to +200.
      const std::vector<float> g = uniform(static_cast<std::size_t>(cols), 0.1f, 60.f, 42);
      const std::vector<float> b = uniform(static_cast<std::size_t>(cols), -20.f, 20.f, 43);
      if (rows >= 3)
        x[static_cast<std::size_t>(2 * cols + cols / 2)] = std::numeric_limits<float>::quiet_NaN();
      for (const bool mish : {false, true}) {
        Outputs fast{std::vector<float>(n), std::vector<float>(rows), std::vector<float>(rows)};
        Outputs cloned = fast;
        k::detail::layernorm_forward_rows_avx2(x.data(), g.data(), b.data(), fast.y.data(), fast.mean.data(),
                                               fast.rstd.data(), rows, cols, kEps, mish);
        k::detail::layernorm_forward_rows_cloned(x.data(), g.data(), b.data(), cloned.y.data(),
                                                 cloned.mean.data(), cloned.rstd.data(), rows, cols, kEps,
                                                 mish);
        expect_same_as_clone(fast.y, cloned.y, same_arithmetic, 4e-6f,
                             std::to_string(rows) + "x" + std::to_string(cols) + (mish ? " mish" : ""));
        for (std::int64_t r = 0; r < rows; ++r) {
          const bool poisoned = rows >= 3 && r == 2;
          ASSERT_EQ(std::isnan(fast.mean[r]), poisoned) << rows << "x" << cols << " row " << r;
          if (poisoned) continue;
          if (same_arithmetic) {
            ASSERT_EQ(fast.mean[r], cloned.mean[r]) << rows << "x" << cols << " row " << r;
            ASSERT_EQ(fast.rstd[r], cloned.rstd[r]) << rows << "x" << cols << " row " << r;
          } else {
            ASSERT_NEAR(fast.mean[r], cloned.mean[r], 1e-6f * (std::abs(cloned.mean[r]) + 1.f));
            ASSERT_NEAR(fast.rstd[r], cloned.rstd[r], 2e-6f * cloned.rstd[r]);
          }
        }
      }
    }
  }
}

// The backward's AVX2 row against the clone's, over every combination of what the MLP layer asks
// for (parameter partials, gx, the dropout mask, the bias column sums), with and without Mish,
// on affine inputs that reach all of mish_grad's branches and on partials that already hold
// values (they accumulate). Bit for bit where the clone is the x86-64-v3 one, as above.
TEST(LayerNormKernel, Avx2BackwardRowEqualsTheClonedRow) {
  if (!k::cpu_has_avx2_fma()) GTEST_SKIP() << "this CPU has no AVX2+FMA: the AVX2 rows never run here";
  const bool same_arithmetic = !k::cpu_has_avx512f();
  for (const std::int64_t cols : {8, 24, 104, 512}) {
    const auto n = static_cast<std::size_t>(cols);
    const std::vector<float> x = uniform(n, -3.f, 4.f, 51 + static_cast<std::uint64_t>(cols));
    const std::vector<float> g = uniform(n, 0.1f, 60.f, 52);
    std::vector<float> b = uniform(n, -20.f, 20.f, 53);
    b[1] = -150.f;  // below exp_poly's clamp (-87.3) whatever xhat is
    b[2] = 90.f;    // above mish's 20
    const std::vector<float> gy = uniform(n, -1.f, 1.f, 54);
    std::vector<float> mask = uniform(n, 0.f, 1.f, 55);
    for (float& m : mask) m = m < 0.1f ? 0.f : 1.f / 0.9f;
    std::vector<float> held = uniform(n, -0.5f, 0.5f, 56);  // what the partials held before
    held[1] = 0.f;  // where a gradient of ~1e-36 would be absorbed by anything larger
    float mean = 0.f, rstd = 0.f;
    std::vector<float> y(n);
    k::detail::layernorm_forward_rows_cloned(x.data(), g.data(), b.data(), y.data(), &mean, &rstd, 1, cols,
                                             kEps, true);
    for (int ask = 0; ask < 16; ++ask) {
      const bool params = ask & 1, want_gx = ask & 2, masked = (ask & 4) && want_gx,
                 bias = (ask & 8) && want_gx;
      for (const bool mish : {false, true}) {
        struct Out {
          std::vector<float> gx, pg, pb, pd, dp;
        };
        Out fast{std::vector<float>(n), held, held, held, std::vector<float>(n)}, cloned = fast;
        const auto run = [&](Out& o, auto fn) {
          fn(x.data(), g.data(), b.data(), mean, rstd, gy.data(), want_gx ? o.gx.data() : nullptr,
             masked ? mask.data() : nullptr, params ? o.pg.data() : nullptr, params ? o.pb.data() : nullptr,
             bias ? o.pd.data() : nullptr, o.dp.data(), cols, mish);
        };
        run(fast, k::detail::layernorm_backward_row_avx2);
        run(cloned, k::detail::layernorm_backward_row_cloned);
        const std::string what =
            std::to_string(cols) + " cols, ask " + std::to_string(ask) + (mish ? " mish" : "");
        expect_same_as_clone(fast.gx, cloned.gx, same_arithmetic, 1e-5f, "gx " + what);
        expect_same_as_clone(fast.pg, cloned.pg, same_arithmetic, 1e-5f, "dgamma " + what);
        expect_same_as_clone(fast.pb, cloned.pb, same_arithmetic, 1e-5f, "dbeta " + what);
        expect_same_as_clone(fast.pd, cloned.pd, same_arithmetic, 1e-5f, "dbias " + what);
      }
    }
  }
}

}  // namespace
