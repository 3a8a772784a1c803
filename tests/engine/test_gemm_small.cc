// Small-batch GEMM: the packed path equals a double-precision reference (and OpenBLAS) for every
// m = 1..64 and odd n, k, strides, alpha/beta, bias and both transposes, on both the AVX2/FMA and
// the portable micro-kernels; and the packed-weight cache repacks exactly when it must.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "lucid/engine/autograd.h"
#include "lucid/engine/ops.h"
#include "lucid/engine/rng.h"
#include "lucid/kernels/gemm.h"
#include "lucid/kernels/gemm_small.h"
#include "lucid_test.h"

namespace {

namespace k = lucid::kernels;

std::vector<float> randn(std::size_t n, std::uint64_t seed) {
  std::vector<float> v(n);
  lucid::Rng(seed).normal(v.data(), n);
  return v;
}

struct Case {
  int m, n, kk;
  bool trans_b;
  float alpha = 1.0f, beta = 0.0f;
  bool bias = false;
  int pad = 0;  // extra row stride on A, B and C
};

std::string name_of(const Case& c) {
  return "m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.kk) +
         " trans_b=" + std::to_string(c.trans_b) + " alpha=" + std::to_string(c.alpha) +
         " beta=" + std::to_string(c.beta) + " bias=" + std::to_string(c.bias) +
         " pad=" + std::to_string(c.pad);
}

// Runs gemm_small_cpu and checks each element against a double reference within the float
// accumulation bound k * eps * sum|a_p b_p| (a wrong or missing product exceeds it by far).
void check(const Case& c) {
  const int lda = c.kk + c.pad, ldb = (c.trans_b ? c.kk : c.n) + c.pad, ldc = c.n + c.pad;
  const std::vector<float> a = randn(std::size_t(c.m) * lda, 1),
                           b = randn(std::size_t(c.trans_b ? c.n : c.kk) * ldb, 2);
  const std::vector<float> bias = randn(c.n, 3), c0 = randn(std::size_t(c.m) * ldc, 4);
  std::vector<float> got = c0;
  k::gemm_small_cpu(c.trans_b, c.m, c.n, c.kk, c.alpha, a.data(), lda, b.data(), ldb, /*version=*/0, c.beta,
                    got.data(), ldc, c.bias ? bias.data() : nullptr);
  std::vector<float> blas = c0;
  k::gemm_cpu(false, c.trans_b, c.m, c.n, c.kk, c.alpha, a.data(), lda, b.data(), ldb, c.beta, blas.data(),
              ldc);
  for (int i = 0; i < c.m; ++i) {
    for (int j = 0; j < ldc; ++j) {
      const std::size_t o = std::size_t(i) * ldc + j;
      if (j >= c.n) {
        ASSERT_EQ(got[o], c0[o]) << name_of(c) << ": wrote into the row padding at (" << i << ", " << j
                                 << ")";
        continue;
      }
      double ref = 0, mag = 0;
      for (int p = 0; p < c.kk; ++p) {
        const double bv = c.trans_b ? b[std::size_t(j) * ldb + p] : b[std::size_t(p) * ldb + j];
        ref += double(a[std::size_t(i) * lda + p]) * bv;
        mag += std::abs(double(a[std::size_t(i) * lda + p]) * bv);
      }
      ref = c.alpha * ref + c.beta * double(c0[o]) + (c.bias ? bias[j] : 0.0);
      const double tol =
          1e-6 + (c.kk + 2) * 6e-8 * (std::abs(c.alpha) * mag + std::abs(c.beta * c0[o]) + 1.0);
      ASSERT_NEAR(got[o], ref, tol) << name_of(c) << " at (" << i << ", " << j << ")";
      ASSERT_NEAR(got[o], blas[o] + (c.bias ? bias[j] : 0.0f), 2 * tol) << name_of(c) << " vs OpenBLAS";
    }
  }
}

class GemmSmall : public ::testing::TestWithParam<k::GemmIsa> {
 protected:
  void SetUp() override {
    if (!k::gemm_small_cpu_has(GetParam())) GTEST_SKIP() << "this CPU lacks the instructions of this kernel";
    k::gemm_small_cap_isa(GetParam());
    ASSERT_EQ(k::gemm_small_isa_in_use(), GetParam());
    k::gemm_pack_cache_clear();  // every case reuses version 0 at new addresses
  }
  void TearDown() override { k::gemm_small_cap_isa(k::GemmIsa::avx512); }
};

TEST_P(GemmSmall, EveryRowCountUpTo64) {
  for (int m = 1; m <= 64; ++m) check({m, 37, 61, true});
}

TEST_P(GemmSmall, PlanningShapes) {
  for (int m : {1, 5, 8, 12, 13, 25, 64, 512}) check({m, 512, 518, true});
}

TEST_P(GemmSmall, OddShapesStridesAndEpilogues) {
  for (int n : {1, 7, 16, 17, 31, 48})
    for (int kk : {1, 3, 16, 29})
      for (bool tb : {true, false}) {
        check({3, n, kk, tb});
        check({7, n, kk, tb, 0.5f, 1.0f, true, 3});
        check({12, n, kk, tb, -2.0f, 0.25f, false, 1});
      }
}

TEST_P(GemmSmall, LargerThanSmallStillCorrect) { check({100, 40, 50, false, 1.0f, 0.0f, true}); }

TEST_P(GemmSmall, EmptyDimensions) {
  check({4, 9, 0, true, 1.0f, 0.5f, true});  // k = 0: C = beta C + bias
  std::vector<float> c(4, 1.0f);
  k::gemm_small_cpu(true, 0, 4, 3, 1.0f, nullptr, 3, nullptr, 3, 0, 0.0f, c.data(), 4);
  EXPECT_EQ(c, std::vector<float>(4, 1.0f));
}

// beta = 0 must not read C: NaN there may not leak into the result.
TEST_P(GemmSmall, BetaZeroIgnoresGarbageInC) {
  const std::vector<float> a = randn(2 * 5, 7), b = randn(20 * 5, 8);
  std::vector<float> c(2 * 20, NAN);
  k::gemm_small_cpu(true, 2, 20, 5, 1.0f, a.data(), 5, b.data(), 5, 0, 0.0f, c.data(), 20);
  for (float v : c) ASSERT_TRUE(std::isfinite(v));
}

INSTANTIATE_TEST_SUITE_P(Isa, GemmSmall,
                         ::testing::Values(k::GemmIsa::avx512, k::GemmIsa::avx2, k::GemmIsa::generic),
                         [](const ::testing::TestParamInfo<k::GemmIsa>& i) {
                           return i.param == k::GemmIsa::avx512 ? "Avx512"
                                  : i.param == k::GemmIsa::avx2 ? "Avx2"
                                                                : "Generic";
                         });

TEST(GemmSmallIsa, ReportsTheKernelInUseAndObeysTheCap) {
  const std::string isa = k::gemm_small_isa();
  EXPECT_EQ(isa, k::gemm_small_cpu_has(k::GemmIsa::avx512) ? "avx512"
                 : k::gemm_small_cpu_has(k::GemmIsa::avx2) ? "avx2-fma"
                                                           : "generic");
  k::gemm_small_cap_isa(k::GemmIsa::generic);
  EXPECT_STREQ(k::gemm_small_isa(), "generic");
  k::gemm_small_cap_isa(k::GemmIsa::avx512);
  EXPECT_EQ(k::gemm_small_isa(), isa);
}

TEST(GemmPackCache, RepacksOnVersionBumpAndOnSilentChange) {
  k::gemm_pack_cache_clear();
  std::vector<float> w = randn(32 * 8, 11);
  const float w0 = w[0];
  auto p1 = k::gemm_pack_cached(true, 32, 8, w.data(), 8, 5);
  EXPECT_EQ(k::gemm_pack_cached(true, 32, 8, w.data(), 8, 5), p1);  // hit
  EXPECT_EQ(k::gemm_pack_cache_bytes(), k::gemm_packed_b_floats(32, 8) * sizeof(float));

  w[0] += 1.0f;  // an optimizer step bumps the version
  auto p2 = k::gemm_pack_cached(true, 32, 8, w.data(), 8, 6);
  EXPECT_NE(p2, p1);
  EXPECT_EQ(p2->data[0], w[0]);
  EXPECT_EQ(k::gemm_pack_cache_bytes(),
            k::gemm_packed_b_floats(32, 8) * sizeof(float));  // old version dropped

  w[31 * 8 + 7] = 42.0f;  // the last element is always fingerprinted: a write without a bump
  auto p3 = k::gemm_pack_cached(true, 32, 8, w.data(), 8, 6);
  EXPECT_NE(p3, p2);
  // The held panels of an evicted version stay valid for whoever holds them.
  EXPECT_EQ(p1->data[0], w0);
}

// Training bumps the version every step: when nobody holds the old panels they are repacked in
// place (no fresh pages per step); the new values are what the next caller reads.
TEST(GemmPackCache, RepacksInPlaceWhenTheOldPanelsAreFree) {
  k::gemm_pack_cache_clear();
  std::vector<float> w = randn(32 * 8, 12);
  const float* block = k::gemm_pack_cached(true, 32, 8, w.data(), 8, 1)->data.get();
  w[0] = 7.0f;
  auto p = k::gemm_pack_cached(true, 32, 8, w.data(), 8, 2);
  EXPECT_EQ(p->data.get(), block);
  EXPECT_EQ(p->data[0], 7.0f);
  EXPECT_EQ(k::gemm_pack_cache_bytes(), k::gemm_packed_b_floats(32, 8) * sizeof(float));
  w[0] = 8.0f;  // p is still held: a new version goes to a new block, p keeps its values
  auto q = k::gemm_pack_cached(true, 32, 8, w.data(), 8, 3);
  EXPECT_NE(q->data.get(), p->data.get());
  EXPECT_EQ(q->data[0], 8.0f);
  EXPECT_EQ(p->data[0], 7.0f);
}

TEST(GemmPackCache, EvictsLeastRecentlyUsedBeyondCapacity) {
  k::gemm_pack_cache_clear();
  const std::size_t one = k::gemm_packed_b_floats(16, 64) * sizeof(float);
  k::gemm_pack_cache_set_capacity(2 * one);
  std::vector<float> w1 = randn(16 * 64, 1), w2 = randn(16 * 64, 2), w3 = randn(16 * 64, 3);
  auto p1 = k::gemm_pack_cached(true, 16, 64, w1.data(), 64, 0);
  k::gemm_pack_cached(true, 16, 64, w2.data(), 64, 0);
  EXPECT_EQ(k::gemm_pack_cached(true, 16, 64, w1.data(), 64, 0), p1);  // w1 is now the most recent
  k::gemm_pack_cached(true, 16, 64, w3.data(), 64, 0);                 // evicts w2
  EXPECT_EQ(k::gemm_pack_cache_bytes(), 2 * one);
  EXPECT_EQ(k::gemm_pack_cached(true, 16, 64, w1.data(), 64, 0), p1);
  k::gemm_pack_cache_set_capacity(std::size_t(512) << 20);
  k::gemm_pack_cache_clear();
  EXPECT_EQ(k::gemm_pack_cache_bytes(), 0u);
}

}  // namespace

// ---- the engine's routing: no-grad linear / ensemble_linear with m <= 64 use the packed path ----

namespace {

using lucid::Shape;
using lucid::Tensor;

Tensor tensor_randn(const Shape& s, std::uint64_t seed, float scale = 1.0f) {
  std::vector<float> v = randn(std::size_t(s.numel()), seed);
  for (float& x : v) x *= scale;
  return Tensor::from(v, s);
}

TEST(EngineSmallLinear, NoGradMatchesOpenBlasAndFollowsWeightUpdates) {
  k::gemm_pack_cache_clear();
  const Tensor x = tensor_randn(Shape{8, 518}, 1), b = tensor_randn(Shape{512}, 3);
  Tensor w = tensor_randn(Shape{512, 518}, 2, 0.05f);
  std::vector<float> ref(8 * 512);
  for (int i = 0; i < 8; ++i) std::copy(b.data(), b.data() + 512, ref.begin() + i * 512);
  k::gemm_cpu(false, true, 8, 512, 518, 1.0f, x.data(), 518, w.data(), 518, 1.0f, ref.data(), 512);
  Tensor fast;
  {
    lucid::NoGrad no_grad;
    fast = lucid::linear(x, w, b);
  }
  EXPECT_GT(k::gemm_pack_cache_bytes(), 0u) << "the no-grad forward did not use the packed path";
  EXPECT_TRUE(lucid::testing::all_close(fast.data(), ref.data(), ref.size(), 1e-5, 1e-5));

  // An in-place update that bumps the version must be seen by the next no-grad call.
  w.data()[0] += 1.0f;
  w.bump_version();
  lucid::NoGrad no_grad;
  const Tensor after = lucid::linear(x, w, b);
  for (int i = 0; i < 8; ++i) {
    ASSERT_NEAR(after.data()[i * 512], fast.data()[i * 512] + x.data()[i * 518], 1e-4) << "row " << i;
  }
}

TEST(EngineSmallLinear, EnsembleNoGradMatchesPerHeadLinear) {
  const Tensor x = tensor_randn(Shape{5, 13}, 4), w = tensor_randn(Shape{3, 21, 13}, 5),
               b = tensor_randn(Shape{3, 21}, 6);
  lucid::NoGrad no_grad;
  const Tensor y = lucid::ensemble_linear(x, w, b);
  ASSERT_EQ(y.shape(), (Shape{3, 5, 21}));
  for (int e = 0; e < 3; ++e) {
    std::vector<float> ref(5 * 21);
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 21; ++j) {
        double acc = b.data()[e * 21 + j];
        for (int p = 0; p < 13; ++p) acc += double(x.data()[i * 13 + p]) * w.data()[(e * 21 + j) * 13 + p];
        ref[std::size_t(i) * 21 + j] = float(acc);
      }
    EXPECT_TRUE(lucid::testing::all_close(y.data() + e * 5 * 21, ref.data(), ref.size(), 1e-5, 1e-5))
        << "head " << e;
  }
}

}  // namespace
