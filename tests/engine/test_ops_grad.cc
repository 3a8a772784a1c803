// Finite-difference gradient checks for every differentiable op in lucid/engine/ops.h.
// Inputs are drawn away from kinks (relu/clamp/max ties); see tests/support/gradcheck.h.
// One suite for both devices (device_suite.h): on CUDA the analytic gradients come from the
// device and the finite differences from the CPU copies.
#include <gtest/gtest.h>

#include "device_suite.h"
#include "gradcheck.h"
#include "lucid/engine/ops.h"
#include "lucid/engine/rng.h"

namespace lucid {
namespace {

using testing::gradcheck;
using testing::GradcheckOptions;
using testing::uniform_tensor;
using V = std::vector<Tensor>;

// A smaller FD step, for inputs near (but not at) a kink or where second derivatives are large.
GradcheckOptions fine_step() {
  GradcheckOptions o;
  o.step = 1e-3;
  return o;
}

class OpsGrad : public testing::OnDevice {
 protected:
  GradcheckOptions opt(GradcheckOptions o = {}) const {
    o.device = dev();
    return o;
  }
};
LUCID_INSTANTIATE_ON_DEVICES(OpsGrad);

Tensor U(const Shape& s, unsigned seed, float lo = -1.f, float hi = 1.f) {
  return uniform_tensor(s, lo, hi, seed);
}

// Values in [0.2, 1) with random sign: away from 0 for relu / abs-like kinks.
Tensor away_from_zero(const Shape& s, unsigned seed) {
  Tensor t = U(s, seed, 0.2f, 1.f);
  Tensor sign = U(s, seed + 100);
  for (std::int64_t i = 0; i < t.numel(); ++i)
    if (sign.data()[i] < 0) t.data()[i] = -t.data()[i];
  return t;
}

TEST_P(OpsGrad, Linear) {
  EXPECT_TRUE(gradcheck([](const V& v) { return linear(v[0], v[1], v[2]); },
                        {U({5, 7}, 1), U({3, 7}, 2), U({3}, 3)}, opt()));
  EXPECT_TRUE(
      gradcheck([](const V& v) { return linear(v[0], v[1]); }, {U({2, 4, 6}, 4), U({5, 6}, 5)}, opt()));
}

TEST_P(OpsGrad, MatmulAllTransposes) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const Shape sa = ta ? Shape{4, 3} : Shape{3, 4};
      const Shape sb = tb ? Shape{5, 4} : Shape{4, 5};
      EXPECT_TRUE(
          gradcheck([ta, tb](const V& v) { return matmul(v[0], v[1], ta, tb); }, {U(sa, 6), U(sb, 7)}, opt()))
          << "trans_a " << ta << " trans_b " << tb;
    }
}

TEST_P(OpsGrad, EnsembleLinearStackedAndShared) {
  EXPECT_TRUE(gradcheck([](const V& v) { return ensemble_linear(v[0], v[1], v[2]); },
                        {U({3, 4, 5}, 8), U({3, 2, 5}, 9), U({3, 2}, 10)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return ensemble_linear(v[0], v[1], v[2]); },
                        {U({4, 5}, 11), U({3, 2, 5}, 12), U({3, 2}, 13)}, opt()));
}

TEST_P(OpsGrad, BinaryWithBroadcast) {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {3, 4}},     // same
      {{3, 4}, {4}},        // row
      {{3, 4}, {3, 1}},     // column
      {{2, 3, 4}, {3, 4}},  // leading
      {{1, 4}, {3, 1}},     // both broadcast
      {{3, 4}, {}},         // scalar
  };
  for (const auto& [sa, sb] : shapes) {
    EXPECT_TRUE(gradcheck([](const V& v) { return add(v[0], v[1]); }, {U(sa, 1), U(sb, 2)}, opt()))
        << sa.str() << sb.str();
    EXPECT_TRUE(gradcheck([](const V& v) { return sub(v[0], v[1]); }, {U(sa, 3), U(sb, 4)}, opt()))
        << sa.str() << sb.str();
    EXPECT_TRUE(gradcheck([](const V& v) { return mul(v[0], v[1]); }, {U(sa, 5), U(sb, 6)}, opt()))
        << sa.str() << sb.str();
    EXPECT_TRUE(gradcheck([](const V& v) { return div(v[0], v[1]); }, {U(sa, 7), U(sb, 8, 0.5f, 2.f)}, opt()))
        << sa.str() << sb.str();
  }
}

TEST_P(OpsGrad, MinimumMaximumAwayFromTies) {
  Tensor a = U({4, 5}, 1), b = U({4, 5}, 2);
  for (std::int64_t i = 0; i < a.numel(); ++i)  // keep |a - b| >= 0.1 so the FD step never flips a choice
    if (std::abs(a.data()[i] - b.data()[i]) < 0.1f) b.data()[i] = a.data()[i] + 0.3f;
  EXPECT_TRUE(
      gradcheck([](const V& v) { return minimum(v[0], v[1]); }, {a.clone(), b.clone()}, opt(fine_step())));
  EXPECT_TRUE(
      gradcheck([](const V& v) { return maximum(v[0], v[1]); }, {a.clone(), b.clone()}, opt(fine_step())));
}

TEST_P(OpsGrad, ScalarForms) {
  EXPECT_TRUE(gradcheck([](const V& v) { return add(v[0], 2.5f); }, {U({3, 4}, 1)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return mul(v[0], -1.5f); }, {U({3, 4}, 2)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return neg(v[0]); }, {U({3, 4}, 3)}, opt()));
}

TEST_P(OpsGrad, Unary) {
  const Shape s{4, 6};
  EXPECT_TRUE(gradcheck([](const V& v) { return exp(v[0]); }, {U(s, 1)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return log(v[0]); }, {U(s, 2, 0.5f, 3.f)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return tanh(v[0]); }, {U(s, 3, -2.f, 2.f)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return sigmoid(v[0]); }, {U(s, 4, -3.f, 3.f)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return softplus(v[0]); }, {U(s, 5, -4.f, 4.f)}, opt()));
  EXPECT_TRUE(
      gradcheck([](const V& v) { return softplus(v[0]); }, {U(s, 6, 21.f, 25.f)}, opt()));  // linear regime
  EXPECT_TRUE(gradcheck([](const V& v) { return relu(v[0]); }, {away_from_zero(s, 7)}, opt(fine_step())));
  EXPECT_TRUE(
      gradcheck([](const V& v) { return elu(v[0], 0.7f); }, {away_from_zero(s, 8)}, opt(fine_step())));
  EXPECT_TRUE(gradcheck([](const V& v) { return mish(v[0]); }, {U(s, 9, -4.f, 4.f)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return square(v[0]); }, {U(s, 10)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return sqrt(v[0]); }, {U(s, 11, 0.5f, 3.f)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return symlog(v[0]); }, {away_from_zero(s, 12)}, opt(fine_step())));
  EXPECT_TRUE(gradcheck([](const V& v) { return symexp(v[0]); }, {away_from_zero(s, 13)}, opt(fine_step())));
  // clamp: values inside, below and above [-0.5, 0.5], none within 0.1 of a bound.
  Tensor c = Tensor::from({-0.9f, -0.3f, 0.f, 0.2f, 0.8f, 1.5f, -1.2f, 0.35f}, {2, 4});
  EXPECT_TRUE(gradcheck([](const V& v) { return clamp(v[0], -0.5f, 0.5f); }, {c}, opt(fine_step())));
}

TEST_P(OpsGrad, RowOps) {
  EXPECT_TRUE(gradcheck([](const V& v) { return layernorm(v[0], v[1], v[2]); },
                        {U({5, 12}, 1, -2.f, 2.f), U({12}, 2, 0.5f, 1.5f), U({12}, 3)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return layernorm_mish(v[0], v[1], v[2]); },
                        {U({2, 3, 12}, 4, -2.f, 2.f), U({12}, 5, 0.5f, 1.5f), U({12}, 6)}, opt()));
  // Ensemble form: per-member gamma/beta.
  EXPECT_TRUE(gradcheck([](const V& v) { return layernorm_mish(v[0], v[1], v[2]); },
                        {U({3, 2, 8}, 14, -2.f, 2.f), U({3, 8}, 15, 0.5f, 1.5f), U({3, 8}, 16)}, opt()));
  // LayerNorm with a fused input bias (plain and per-member), with and without Mish.
  for (bool mish : {false, true}) {
    EXPECT_TRUE(gradcheck([mish](const V& v) { return bias_layernorm(v[0], v[1], v[2], v[3], mish); },
                          {U({5, 12}, 17, -2.f, 2.f), U({12}, 18), U({12}, 19, 0.5f, 1.5f), U({12}, 20)},
                          opt()))
        << "mish " << mish;
    EXPECT_TRUE(gradcheck(
        [mish](const V& v) { return bias_layernorm(v[0], v[1], v[2], v[3], mish); },
        {U({3, 2, 9}, 21, -2.f, 2.f), U({3, 9}, 22), U({3, 9}, 23, 0.5f, 1.5f), U({3, 9}, 24)}, opt()))
        << "ensemble, mish " << mish;
  }
  EXPECT_TRUE(gradcheck([](const V& v) { return softmax(v[0]); }, {U({4, 7}, 7, -2.f, 2.f)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return log_softmax(v[0]); }, {U({4, 7}, 8, -2.f, 2.f)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return simnorm(v[0], 8); }, {U({3, 24}, 9, -2.f, 2.f)}, opt()));
}

TEST_P(OpsGrad, Reductions) {
  const Shape s{3, 4, 5};
  EXPECT_TRUE(gradcheck([](const V& v) { return sum(v[0]); }, {U(s, 1)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return mean(v[0]); }, {U(s, 2)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return sum_last(v[0]); }, {U(s, 3)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return mean_last(v[0], true); }, {U(s, 4)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return sum_leading(v[0]); }, {U(s, 5)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return mean_leading(v[0]); }, {U(s, 6)}, opt()));
  // Distinct values spaced 0.1 apart so the argmax/argmin is stable under the FD step.
  std::vector<float> vals(20);
  for (int i = 0; i < 20; ++i) vals[i] = 0.1f * static_cast<float>((i * 7) % 20);
  const Tensor x = Tensor::from(vals, {4, 5});
  EXPECT_TRUE(gradcheck([](const V& v) { return max_last(v[0]); }, {x.clone()}, opt(fine_step())));
  EXPECT_TRUE(gradcheck([](const V& v) { return min_last(v[0], true); }, {x.clone()}, opt(fine_step())));
}

TEST_P(OpsGrad, ShapeOps) {
  EXPECT_TRUE(gradcheck([](const V& v) { return reshape(v[0], {6, 2}); }, {U({3, 4}, 1)}, opt()));
  EXPECT_TRUE(gradcheck(
      [](const V& v) {
        return concat({v[0], v[1], v[2]}, -1);
      },
      {U({3, 2}, 2), U({3, 5}, 3), U({3, 1}, 4)}, opt()));
  EXPECT_TRUE(gradcheck(
      [](const V& v) {
        return concat({v[0], v[1]}, 0);
      },
      {U({2, 3, 2}, 5), U({4, 3, 2}, 6)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return slice(v[0], -1, 1, 4); }, {U({3, 5}, 7)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return slice(v[0], 0, 1, 3); }, {U({4, 2, 3}, 8)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return gather_rows(v[0], {2, 0, 2, 3}); }, {U({4, 3}, 9)}, opt()));
}

TEST_P(OpsGrad, DiscreteRegressionAndLosses) {
  const Tensor target = Tensor::from({-30.f, -0.7f, 0.f, 2.3f, 150.f, 9e4f}, {6, 1});
  EXPECT_TRUE(gradcheck([target](const V& v) { return soft_ce(v[0], target.to(v[0].device())); },
                        {U({6, 101}, 1, -2.f, 2.f)}, opt()));
  EXPECT_TRUE(
      gradcheck([](const V& v) { return two_hot_inv(v[0]); }, {U({3, 101}, 2, -1.f, 1.f)}, opt(fine_step())));
  EXPECT_TRUE(gradcheck([](const V& v) { return mse(v[0], v[1]); }, {U({4, 6}, 3), U({4, 6}, 4)}, opt()));
  EXPECT_TRUE(gradcheck([](const V& v) { return gaussian_logprob(v[0], v[1]); }, {U({4, 3}, 5), U({4, 3}, 6)},
                        opt()));
  EXPECT_TRUE(
      gradcheck([](const V& v) { return squash_correction(v[0]); }, {U({4, 3}, 7, -2.f, 2.f)}, opt()));
}

TEST_P(OpsGrad, DropoutUsesOneMaskPerDraw) {
  // The same (seed, offset) gives the same mask, so FD sees one fixed linear map.
  EXPECT_TRUE(gradcheck(
      [](const V& v) {
        Rng rng(42);
        return dropout(v[0], 0.3f, rng);
      },
      {U({6, 8}, 1)}, opt()));
}

TEST_P(OpsGrad, GruCells) {
  const int B = 3, I = 4, H = 5;
  EXPECT_TRUE(gradcheck(
      [](const V& v) { return gru_cell(v[0], v[1], v[2], v[3], v[4], v[5]); },
      {U({B, I}, 1), U({B, H}, 2), U({3 * H, I}, 3), U({3 * H, H}, 4), U({3 * H}, 5), U({3 * H}, 6)}, opt()));
  EXPECT_TRUE(gradcheck(
      [](const V& v) { return gru_cell_ln(v[0], v[1], v[2], v[3], v[4]); },
      {U({B, I}, 7), U({B, H}, 8), U({3 * H, H + I}, 9), U({3 * H}, 10, 0.5f, 1.5f), U({3 * H}, 11)}, opt()));
}

}  // namespace
}  // namespace lucid
