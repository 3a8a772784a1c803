// rewards.h: every sigmoid against its defining properties (S(0) = 1, S(1) = value_at_margin,
// monotone decay) and tolerance() against dm_control's closed forms (facts §2).
#include <gtest/gtest.h>

#include <cmath>

#include "dmc/rewards.h"
#include "lucid/error.h"

namespace lucid::envs::dmc {
namespace {

constexpr Sigmoid kAll[] = {Sigmoid::kGaussian,   Sigmoid::kHyperbolic, Sigmoid::kLongTail,
                            Sigmoid::kReciprocal, Sigmoid::kCosine,     Sigmoid::kLinear,
                            Sigmoid::kQuadratic,  Sigmoid::kTanhSquared};

TEST(Rewards, EverySigmoidIsOneAtZeroAndValueAtMargin) {
  for (Sigmoid s : kAll) {
    for (double v : {0.1, 0.5, 0.9}) {
      EXPECT_NEAR(sigmoid(0.0, v, s), 1.0, 1e-12) << static_cast<int>(s);
      EXPECT_NEAR(sigmoid(1.0, v, s), v, 1e-12) << static_cast<int>(s) << " v=" << v;
      // decays between 0 and the margin
      EXPECT_LT(sigmoid(0.7, v, s), sigmoid(0.3, v, s)) << static_cast<int>(s);
    }
  }
}

TEST(Rewards, BoundedSigmoidsReachZeroPastTheirSupport) {
  // cosine, linear and quadratic are exactly 0 once |d * scale| >= 1 (v = 0: scale = 1).
  EXPECT_EQ(sigmoid(1.5, 0.0, Sigmoid::kLinear), 0.0);
  EXPECT_EQ(sigmoid(1.5, 0.0, Sigmoid::kQuadratic), 0.0);
  EXPECT_EQ(sigmoid(1.5, 0.0, Sigmoid::kCosine), 0.0);
  EXPECT_GT(sigmoid(5.0, 0.1, Sigmoid::kGaussian), 0.0);  // unbounded support
}

TEST(Rewards, ToleranceClosedForms) {
  // inside the bounds
  EXPECT_EQ(tolerance(0.5, {0.0, 1.0}), 1.0);
  // margin 0: an indicator
  EXPECT_EQ(tolerance(1.01, {0.0, 1.0}), 0.0);
  // tol(x, (a, inf), margin a, linear, 0) = clip(x / a, 0, 1)
  for (double x : {-1.0, 0.0, 2.5, 5.0, 9.99, 12.0})
    EXPECT_NEAR(tolerance(x, {10.0, kInf}, 10.0, Sigmoid::kLinear, 0.0), std::clamp(x / 10.0, 0.0, 1.0),
                1e-12)
        << x;
  // tol(x, (a, inf), margin a/2, linear, .5) = clip(x / a, 0, 1)
  for (double x : {-1.0, 0.5, 1.0, 1.5, 3.0})
    EXPECT_NEAR(tolerance(x, {1.0, kInf}, 0.5, Sigmoid::kLinear, 0.5), std::clamp(x, 0.0, 1.0), 1e-12) << x;
  // tol(u, margin 1, quadratic, 0) = max(0, 1 - u^2)
  for (double u : {-1.5, -0.5, 0.0, 0.3, 1.0})
    EXPECT_NEAR(tolerance(u, {}, 1.0, Sigmoid::kQuadratic, 0.0), std::max(0.0, 1.0 - u * u), 1e-12) << u;
  // gaussian default: value 0.1 one margin away, on either side
  EXPECT_NEAR(tolerance(2.0, {0.0, 1.0}, 2.0), std::exp(-0.5 * 0.25 * -2.0 * std::log(0.1)), 1e-12);
  EXPECT_NEAR(tolerance(-2.0, {0.0, 1.0}, 2.0), 0.1, 1e-12);
}

TEST(Rewards, BadArgumentsAreRefused) {
  EXPECT_THROW(tolerance(0.0, {1.0, 0.0}), EnvError);
  EXPECT_THROW(tolerance(0.0, {}, -1.0), EnvError);
  EXPECT_THROW(tolerance(2.0, {}, 1.0, Sigmoid::kGaussian, 0.0), EnvError);  // log(0)
  EXPECT_THROW(tolerance(2.0, {}, 1.0, Sigmoid::kLinear, 1.0), EnvError);
}

}  // namespace
}  // namespace lucid::envs::dmc
