// Forward values against plain loops, and every fused op against its unfused composition
// (values and gradients): layernorm+mish, soft CE, the GRU gates, ensemble linear. One suite for
// both devices (device_suite.h): inputs are made on the host, the ops run on the device under
// test, results come back with host(). The thread-count tests are about the CPU kernels only.
#include <gtest/gtest.h>

#include <cmath>

#include "device_suite.h"
#include "gradcheck.h"
#include "lucid/engine/autograd.h"
#include "lucid/engine/ops.h"
#include "lucid/engine/rng.h"
#include "lucid/error.h"
#include "lucid/kernels/threading.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using testing::all_close;
using testing::uniform_tensor;

Tensor U(const Shape& s, unsigned seed, float lo = -1.f, float hi = 1.f) {
  return uniform_tensor(s, lo, hi, seed);
}

class OpsValues : public testing::OnDevice {};
LUCID_INSTANTIATE_ON_DEVICES(OpsValues);
class OpsFused : public testing::OnDevice {};
LUCID_INSTANTIATE_ON_DEVICES(OpsFused);

TEST_P(OpsValues, LinearMatchesLoop) {
  const int m = 37, k = 19, n = 23;  // odd sizes: no kernel-friendly multiples
  Tensor x = U({m, k}, 1), w = U({n, k}, 2), b = U({n}, 3);
  Tensor y = host(linear(on(x), on(w), on(b)));
  std::vector<double> ref(m * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = b.data()[j];
      for (int q = 0; q < k; ++q) s += static_cast<double>(x.data()[i * k + q]) * w.data()[j * k + q];
      ref[i * n + j] = s;
    }
  EXPECT_TRUE(all_close(y.data(), ref.data(), ref.size(), 1e-5, 1e-5));
}

TEST_P(OpsValues, MatmulAllTransposesMatchLoop) {
  const int m = 5, k = 7, n = 3;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = ta ? U({k, m}, 1) : U({m, k}, 1), b = tb ? U({n, k}, 2) : U({k, n}, 2);
      Tensor c = host(matmul(on(a), on(b), ta, tb));
      ASSERT_EQ(c.shape(), (Shape{m, n}));
      std::vector<double> ref(m * n, 0.0);
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j)
          for (int q = 0; q < k; ++q)
            ref[i * n + j] += static_cast<double>(ta ? a.data()[q * m + i] : a.data()[i * k + q]) *
                              (tb ? b.data()[j * k + q] : b.data()[q * n + j]);
      EXPECT_TRUE(all_close(c.data(), ref.data(), ref.size(), 1e-5, 1e-5)) << ta << tb;
    }
}

// M <= 64 rows take the pre-packed small GEMM (forward and input gradient), more rows take BLAS:
// the same 100 rows, whole and in two halves, must give the same outputs and gradients.
TEST_P(OpsValues, SmallBatchAndBlasPathsAgreeWithATape) {
  Tensor w = on(U({3, 24, 37}, 2)).set_requires_grad(), b = on(U({3, 24}, 3)).set_requires_grad();
  const Tensor x_all = on(U({100, 37}, 1));
  auto run = [&](const Tensor& x_rows, bool ensemble) {
    Tensor x = x_rows.clone().set_requires_grad();
    Tensor y =
        ensemble ? ensemble_linear(x, w, b) : linear(x, w[0].detach().set_requires_grad(), b[0].detach());
    const std::vector<Tensor> g = grad({sum(mish(y))}, {x});
    return std::make_pair(host(y), host(g[0]));
  };
  for (bool ensemble : {false, true}) {
    const auto whole = run(x_all, ensemble);
    const auto top = run(x_all.view_rows(0, 50), ensemble), bottom = run(x_all.view_rows(50, 100), ensemble);
    const int m = ensemble ? 3 : 1;
    for (int e = 0; e < m; ++e) {
      const Tensor yw = ensemble ? whole.first[e] : whole.first;
      const Tensor yt = ensemble ? top.first[e] : top.first, yb = ensemble ? bottom.first[e] : bottom.first;
      EXPECT_TRUE(all_close(yt.data(), yw.data(), yt.numel(), 1e-5, 1e-5));
      EXPECT_TRUE(all_close(yb.data(), yw.data() + yt.numel(), yb.numel(), 1e-5, 1e-5));
    }
    EXPECT_TRUE(all_close(top.second.data(), whole.second.data(), top.second.numel(), 1e-5, 1e-5));
    EXPECT_TRUE(all_close(bottom.second.data(), whole.second.data() + top.second.numel(),
                          bottom.second.numel(), 1e-5, 1e-5));
  }
}

#if !defined(LUCID_TEST_CUDA)  // CPU threading: nothing to check on a GPU
TEST(OpsValuesCpu, LargeLinearSplitAcrossThreadsMatchesOneThread) {
  Tensor x = U({300, 130}, 4), w = U({70, 130}, 5);
  kernels::set_num_threads(1);
  Tensor y1 = linear(x, w);
  kernels::set_num_threads(2);
  Tensor y2 = linear(x, w);
  kernels::set_num_threads(1);
  EXPECT_TRUE(all_close(y2.data(), y1.data(), y1.numel(), 1e-5, 1e-5));
}

// Above kParallelGrain the row/elementwise kernels fork; results must not depend on it (up to
// the order of dgamma/dbeta's per-thread partial sums).
TEST(OpsValuesCpu, ParallelRowKernelsMatchOneThread) {
  auto run = [](int threads) {
    kernels::set_num_threads(threads);
    Tensor x = U({256, 512}, 1, -3.f, 3.f), g = U({512}, 2, 0.5f, 1.5f), b = U({512}, 3);
    x.set_requires_grad(true), g.set_requires_grad(true), b.set_requires_grad(true);
    const Tensor y = add(softmax(layernorm_mish(x, g, b)), mul(sigmoid(x), x));
    const std::vector<Tensor> gr = grad({y}, {x, g, b}, {U({256, 512}, 4)});
    kernels::set_num_threads(1);
    return std::vector<Tensor>{y, gr[0], gr[1], gr[2]};
  };
  const auto one = run(1), two = run(2);
  for (std::size_t i = 0; i < one.size(); ++i)
    EXPECT_TRUE(all_close(two[i].data(), one[i].data(), one[i].numel(), 1e-5, 1e-5)) << "tensor " << i;
}

TEST(OpsValuesCpu, SumLeadingMatchesLoopOnTwoThreads) {
  const Tensor x = U({300, 200}, 5);
  kernels::set_num_threads(2);
  const Tensor y = sum_leading(x);
  kernels::set_num_threads(1);
  std::vector<double> ref(200, 0.0);
  for (int r = 0; r < 300; ++r)
    for (int c = 0; c < 200; ++c) ref[c] += x.data()[r * 200 + c];
  EXPECT_TRUE(all_close(y.data(), ref.data(), ref.size(), 1e-4, 1e-5));
}
#endif

TEST_P(OpsValues, EnsembleSharedEqualsStackedCopies) {
  Tensor x = on(U({5, 6}, 1)), w = on(U({3, 4, 6}, 2)), b = on(U({3, 4}, 3));
  Tensor shared = host(ensemble_linear(x, w, b));
  Tensor stacked = host(ensemble_linear(
      concat({reshape(x, {1, 5, 6}), reshape(x, {1, 5, 6}), reshape(x, {1, 5, 6})}, 0), w, b));
  EXPECT_TRUE(all_close(shared.data(), stacked.data(), shared.numel(), 0, 0));
  for (int e = 0; e < 3; ++e) {
    Tensor ref = host(linear(x, w[e], b[e]));
    EXPECT_TRUE(all_close(shared[e].data(), ref.data(), ref.numel(), 1e-6, 1e-6));
  }
}

TEST_P(OpsValues, BroadcastArithmeticMatchesIndexLoop) {
  // (a shape, b shape); the last pair is large enough to fork.
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 4}, {4}}, {{3, 4}, {3, 1}},          {{2, 3, 4}, {3, 4}}, {{1, 4}, {3, 1}},
      {{3, 4}, {}},  {{2, 1, 3, 5}, {4, 1, 5}}, {{4}, {2, 3, 4}},    {{300, 200}, {200}}};
  for (const auto& [sa, sb] : cases) {
    const Tensor a = U(sa, 1), b = U(sb, 2, 0.5f, 1.5f);
    const Tensor ad = on(a), bd = on(b);
    const Tensor ys[4] = {host(add(ad, bd)), host(sub(ad, bd)), host(mul(ad, bd)), host(div(ad, bd))};
    const Shape so = ys[0].shape();
    // Reference: index arithmetic over the left-padded 4-D output.
    auto pad = [](const Shape& s) {
      std::vector<std::int64_t> d(4, 1);
      for (int i = 0; i < s.dim(); ++i) d[4 - s.dim() + i] = s[i];
      return d;
    };
    const auto da = pad(sa), db = pad(sb), dout = pad(so);
    std::vector<double> ref[4];
    for (auto& r : ref) r.resize(static_cast<std::size_t>(so.numel()));
    std::int64_t o = 0;
    for (std::int64_t i0 = 0; i0 < dout[0]; ++i0)
      for (std::int64_t i1 = 0; i1 < dout[1]; ++i1)
        for (std::int64_t i2 = 0; i2 < dout[2]; ++i2)
          for (std::int64_t i3 = 0; i3 < dout[3]; ++i3, ++o) {
            const std::int64_t idx[4] = {i0, i1, i2, i3};
            std::int64_t ia = 0, ib = 0;
            for (int k = 0; k < 4; ++k) {
              ia = ia * da[k] + (da[k] == 1 ? 0 : idx[k]);
              ib = ib * db[k] + (db[k] == 1 ? 0 : idx[k]);
            }
            const double x = a.data()[ia], y = b.data()[ib];
            ref[0][o] = x + y, ref[1][o] = x - y, ref[2][o] = x * y, ref[3][o] = x / y;
          }
    for (int k = 0; k < 4; ++k)
      EXPECT_TRUE(all_close(ys[k].data(), ref[k].data(), ref[k].size(), 1e-6, 1e-6))
          << sa.str() << sb.str() << k;
  }
}

TEST_P(OpsValues, LayerNormNormalises) {
  Tensor x = U({4, 64}, 1, -3.f, 5.f);
  Tensor y = host(layernorm(on(x), Tensor::ones({64}, dev()), Tensor::zeros({64}, dev())));
  for (int r = 0; r < 4; ++r) {
    double m = 0, v = 0;
    for (int c = 0; c < 64; ++c) m += y.data()[r * 64 + c];
    m /= 64;
    for (int c = 0; c < 64; ++c) v += std::pow(y.data()[r * 64 + c] - m, 2);
    EXPECT_NEAR(m, 0.0, 1e-5);
    EXPECT_NEAR(v / 64, 1.0, 1e-3);  // eps = 1e-5 shrinks it a hair
  }
}

// Values and all three gradients of two functions must agree, both run on `dev`.
void expect_same_fn(Device dev, const testing::TensorFn& f, const testing::TensorFn& g,
                    std::vector<Tensor> in, double tol) {
  for (Tensor& t : in) t = t.to(dev).set_requires_grad(true);
  const Tensor yf = f(in), yg = g(in);
  ASSERT_EQ(yf.shape(), yg.shape());
  EXPECT_TRUE(all_close(yf.to(Device::kCpu).data(), yg.to(Device::kCpu).data(), yf.numel(), tol, tol));
  const Tensor w = U(yf.shape(), 99).to(dev);
  const std::vector<Tensor> gf = grad({yf}, in, {w}), gg = grad({yg}, in, {w});
  for (std::size_t i = 0; i < in.size(); ++i)
    EXPECT_TRUE(
        all_close(gf[i].to(Device::kCpu).data(), gg[i].to(Device::kCpu).data(), gf[i].numel(), tol, tol))
        << "input " << i;
}

TEST_P(OpsFused, LayerNormMishEqualsLayerNormThenMish) {
  expect_same_fn(
      dev(), [](const std::vector<Tensor>& v) { return layernorm_mish(v[0], v[1], v[2]); },
      [](const std::vector<Tensor>& v) { return mish(layernorm(v[0], v[1], v[2])); },
      {U({33, 512}, 1, -3.f, 3.f), U({512}, 2, 0.5f, 1.5f), U({512}, 3)}, 1e-5);
}

TEST_P(OpsFused, BiasLayerNormEqualsAddThenLayerNorm) {
  // Per-member bias, gamma, beta over (E, B, cols), as the Q ensemble's hidden layers use it.
  expect_same_fn(
      dev(),
      [](const std::vector<Tensor>& v) { return bias_layernorm(v[0], v[1], v[2], v[3], /*mish=*/true); },
      [](const std::vector<Tensor>& v) {
        return layernorm_mish(add(v[0], reshape(v[1], {5, 1, 77})), v[2], v[3]);
      },
      {U({5, 33, 77}, 1, -3.f, 3.f), U({5, 77}, 2), U({5, 77}, 3, 0.5f, 1.5f), U({5, 77}, 4)}, 1e-5);
}

TEST_P(OpsFused, SoftCeEqualsLogSoftmaxTimesTwoHot) {
  const Tensor target = on(Tensor::from({-1e5f, -30.f, -0.7f, 0.f, 0.05f, 2.3f, 150.f, 9e4f}, {8, 1}));
  expect_same_fn(
      dev(), [target](const std::vector<Tensor>& v) { return soft_ce(v[0], target); },
      [target](const std::vector<Tensor>& v) {
        return neg(sum_last(mul(two_hot(target), log_softmax(v[0])), true));
      },
      {U({8, 101}, 4, -3.f, 3.f)}, 1e-5);
}

TEST_P(OpsFused, MseEqualsMeanOfSquaredDifference) {
  expect_same_fn(
      dev(), [](const std::vector<Tensor>& v) { return mse(v[0], v[1]); },
      [](const std::vector<Tensor>& v) { return mean(square(sub(v[0], v[1]))); },
      {U({64, 600}, 1), U({64, 600}, 2)}, 1e-5);  // the fused sum is in double
}

TEST_P(OpsFused, GruTorchGatesEqualComposition) {
  const int H = 6;
  auto composed = [H](const std::vector<Tensor>& v) {
    Tensor gi = linear(v[0], v[2], v[4]), gh = linear(v[1], v[3], v[5]);
    auto part = [H](const Tensor& t, int k) { return slice(t, -1, k * H, (k + 1) * H); };
    Tensor r = sigmoid(add(part(gi, 0), part(gh, 0)));
    Tensor z = sigmoid(add(part(gi, 1), part(gh, 1)));
    Tensor n = tanh(add(part(gi, 2), mul(r, part(gh, 2))));
    return add(mul(add(neg(z), 1.f), n), mul(z, v[1]));
  };
  expect_same_fn(
      dev(), [](const std::vector<Tensor>& v) { return gru_cell(v[0], v[1], v[2], v[3], v[4], v[5]); },
      composed,
      {U({4, 5}, 1), U({4, H}, 2), U({3 * H, 5}, 3), U({3 * H, H}, 4), U({3 * H}, 5), U({3 * H}, 6)}, 1e-5);
}

TEST_P(OpsFused, GruLnGatesEqualComposition) {
  const int H = 6;
  auto composed = [H](const std::vector<Tensor>& v) {
    Tensor p = layernorm(linear(concat({v[1], v[0]}, -1), v[2]), v[3], v[4], 1e-3f);
    auto part = [H](const Tensor& t, int k) { return slice(t, -1, k * H, (k + 1) * H); };
    Tensor cand = tanh(mul(sigmoid(part(p, 0)), part(p, 1)));
    Tensor u = sigmoid(add(part(p, 2), -1.f));
    return add(mul(u, cand), mul(add(neg(u), 1.f), v[1]));
  };
  expect_same_fn(
      dev(), [](const std::vector<Tensor>& v) { return gru_cell_ln(v[0], v[1], v[2], v[3], v[4]); }, composed,
      {U({4, 5}, 1), U({4, H}, 2), U({3 * H, H + 5}, 3), U({3 * H}, 4, 0.5f, 1.5f), U({3 * H}, 5)}, 1e-5);
}

TEST_P(OpsValues, TwoHotFollowsTdmpc2) {
  // symlog(0) = 0 sits exactly on bin 50; symlog(e - 1) = 1 sits on bin 55; huge values clamp to bin 100.
  const Tensor t =
      host(two_hot(on(Tensor::from({0.f, std::exp(1.f) - 1.f, 1e9f, -1e9f, std::exp(0.3f) - 1.f}, {5}))));
  EXPECT_EQ(t.shape(), (Shape{5, 101}));
  auto at = [&](int r, int k) { return t.data()[r * 101 + k]; };
  EXPECT_NEAR(at(0, 50), 1.f, 1e-6);
  EXPECT_NEAR(at(1, 55), 1.f, 1e-4);
  EXPECT_NEAR(at(2, 100), 1.f, 1e-6);
  EXPECT_NEAR(at(3, 0), 1.f, 1e-6);
  EXPECT_NEAR(at(4, 51), 0.5f, 1e-4);  // symlog = 0.3: halfway between bins 51 (0.2) and 52 (0.4)
  EXPECT_NEAR(at(4, 52), 0.5f, 1e-4);
  for (int r = 0; r < 5; ++r) {
    float s = 0.f;
    for (int k = 0; k < 101; ++k) s += at(r, k);
    EXPECT_NEAR(s, 1.f, 1e-6);
  }
}

TEST_P(OpsValues, TwoHotInvDecodesATwoHot) {
  const std::vector<float> vals = {0.f, 1.5f, -7.f, 420.f};
  Tensor logits = log(add(two_hot(on(Tensor::from(vals, {4}))), 1e-12f));
  Tensor decoded = host(two_hot_inv(logits));
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(decoded.data()[i], vals[i], 1e-3 * (1 + std::abs(vals[i])));
}

TEST_P(OpsValues, SimNormSumsToOnePerGroup) {
  Tensor y = host(simnorm(on(U({3, 32}, 1, -4.f, 4.f)), 8));
  for (int g = 0; g < 12; ++g) {
    float s = 0.f;
    for (int k = 0; k < 8; ++k) s += y.data()[g * 8 + k];
    EXPECT_NEAR(s, 1.f, 1e-6);
  }
}

TEST_P(OpsValues, GaussianLogProbAndSquashMatchTdmpc2Formulas) {
  Tensor eps = on(Tensor::from({0.5f, -1.f}, {1, 2})), log_std = on(Tensor::from({-0.2f, 0.3f}, {1, 2}));
  const float ref = (-0.5f * 0.25f + 0.2f) + (-0.5f * 1.f - 0.3f) - 0.5f * std::log(2.f * 3.14159265f) * 2.f;
  EXPECT_NEAR(gaussian_logprob(eps, log_std).item(), ref, 1e-5);
  const float c = std::log(1.f - std::pow(std::tanh(0.5f), 2.f) + 1e-6f) +
                  std::log(1.f - std::pow(std::tanh(-1.f), 2.f) + 1e-6f);
  EXPECT_NEAR(squash_correction(eps).item(), c, 1e-5);
}

TEST_P(OpsValues, DropoutDropsAboutPAndRescalesTheRest) {
  Rng rng(7);
  const Tensor x = Tensor::ones({200, 100}, dev());
  const Tensor y = host(dropout(x, 0.25f, rng));
  int zeros = 0;
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    const float v = y.data()[i];
    ASSERT_TRUE(v == 0.f || std::abs(v - 1.f / 0.75f) < 1e-6f) << v;
    zeros += v == 0.f;
  }
  EXPECT_NEAR(zeros / 20000.0, 0.25, 0.015);  // 5 sigma of a binomial(20000, 0.25)
  EXPECT_GT(rng.offset(), 0u);                // the stream advanced: the next mask differs
  Rng same(7);
  EXPECT_TRUE(all_close(host(dropout(x, 0.25f, same)).data(), y.data(), y.numel(), 0, 0));  // reproducible
  EXPECT_TRUE(dropout(x, 0.25f, rng, /*training=*/false).same(x));
}

TEST_P(OpsValues, BadShapesThrowShapeErrors) {
  EXPECT_THROW(linear(on(U({2, 3}, 1)), on(U({4, 5}, 2))), ShapeError);
  EXPECT_THROW(add(on(U({2, 3}, 1)), on(U({4}, 2))), ShapeError);
  EXPECT_THROW(simnorm(on(U({2, 12}, 1)), 8), ShapeError);
  EXPECT_THROW(soft_ce(on(U({2, 100}, 1)), on(U({2}, 2))), ShapeError);
  EXPECT_THROW(concat({on(U({2, 3}, 1)), on(U({3, 3}, 2))}, -1), ShapeError);
  EXPECT_THROW(gather_rows(on(U({2, 3}, 1)), {2}), ShapeError);
}

// Shape ops and reductions against index loops: concat/slice along both supported dims, a gather
// with a repeated index (its backward scatter-adds), max/min with their first arg, full and
// per-row sums. Widths are not multiples of 32.
TEST_P(OpsValues, ShapeOpsAndReductionsMatchLoops) {
  const Tensor a = U({3, 5, 7}, 1), b = U({3, 5, 2}, 2);
  const Tensor cat_last = host(concat({on(a), on(b)}, -1));
  const Tensor cat_lead = host(concat({on(a), on(U({2, 5, 7}, 3))}, 0));
  const Tensor sl = host(slice(on(a), -1, 2, 6)), sl0 = host(slice(on(a), 0, 1, 3));
  for (int r = 0; r < 15; ++r) {
    for (int c = 0; c < 9; ++c)
      EXPECT_EQ(cat_last.data()[r * 9 + c], c < 7 ? a.data()[r * 7 + c] : b.data()[r * 2 + c - 7]);
    for (int c = 0; c < 4; ++c) EXPECT_EQ(sl.data()[r * 4 + c], a.data()[r * 7 + 2 + c]);
  }
  EXPECT_TRUE(all_close(cat_lead.data(), a.data(), a.numel(), 0, 0));
  EXPECT_TRUE(all_close(sl0.data(), a.data() + 35, 70, 0, 0));

  Tensor x = on(U({4, 3}, 4)).set_requires_grad();
  const Tensor gathered = gather_rows(x, {2, 0, 2, 3});
  const Tensor gx = host(grad({gathered}, {x}, {Tensor::ones({4, 3}, dev())})[0]);
  const Tensor xh = host(x), gh = host(gathered);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(gh.data()[c], xh.data()[6 + c]);
    EXPECT_EQ(gx.data()[0 * 3 + c], 1.f);
    EXPECT_EQ(gx.data()[1 * 3 + c], 0.f);
    EXPECT_EQ(gx.data()[2 * 3 + c], 2.f);  // index 2 twice
  }

  std::vector<float> vals(6 * 37);
  for (std::size_t i = 0; i < vals.size(); ++i) vals[i] = static_cast<float>((i * 29) % 53) - 20.f;
  const Tensor v = Tensor::from(vals, {6, 37});
  const Tensor mx = host(max_last(on(v))), mn = host(min_last(on(v), true)), sm = host(sum_last(on(v)));
  const Tensor total = host(sum(on(v))), lead = host(mean_leading(on(v)));
  double all = 0.0;
  for (int r = 0; r < 6; ++r) {
    float hi = -1e9f, lo = 1e9f;
    double s = 0.0;
    for (int c = 0; c < 37; ++c)
      hi = std::max(hi, vals[r * 37 + c]), lo = std::min(lo, vals[r * 37 + c]), s += vals[r * 37 + c];
    EXPECT_EQ(mx.data()[r], hi);
    EXPECT_EQ(mn.data()[r], lo);
    EXPECT_NEAR(sm.data()[r], s, 1e-4);
    all += s;
  }
  EXPECT_NEAR(total.item(), all, 1e-3);
  for (int c = 0; c < 37; ++c) {
    double s = 0.0;
    for (int r = 0; r < 6; ++r) s += vals[r * 37 + c];
    EXPECT_NEAR(lead.data()[c], s / 6.0, 1e-5);
  }
}

}  // namespace
}  // namespace lucid
