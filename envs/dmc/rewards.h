// dm_control's `rewards.tolerance` (dm_control/utils/rewards.py), every sigmoid, exact math
// (facts §2). Scalar and double precision: rewards are computed once per control step.
//
//   tolerance(x, {lo, hi}, margin, sigmoid, value_at_margin)
//     = 1                         when lo <= x <= hi
//     = 0                         when outside and margin == 0
//     = S(d, value_at_margin)     otherwise, d = distance to the nearer bound / margin (> 0)
// Every S has S(0) = 1 and S(1) = value_at_margin.
#pragma once

#include <limits>

namespace lucid::envs::dmc {

enum class Sigmoid {
  kGaussian,
  kHyperbolic,
  kLongTail,
  kReciprocal,
  kCosine,
  kLinear,
  kQuadratic,
  kTanhSquared
};

struct Bounds {
  double lo = 0.0, hi = 0.0;
};

inline constexpr double kInf = std::numeric_limits<double>::infinity();

// S(d, v) for d >= 0 (the scaled distance outside the bounds). Throws lucid::EnvError when v is
// outside the sigmoid's allowed range ((0,1), or [0,1) for cosine, linear and quadratic).
double sigmoid(double d, double value_at_margin, Sigmoid kind);

// Throws lucid::EnvError when lo > hi or margin < 0, like dm_control.
double tolerance(double x, Bounds bounds = {}, double margin = 0.0, Sigmoid kind = Sigmoid::kGaussian,
                 double value_at_margin = 0.1);

}  // namespace lucid::envs::dmc
