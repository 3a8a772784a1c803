// tolerance() and its sigmoids, transcribed from the formulas in facts §2.
#include "dmc/rewards.h"

#include <cmath>
#include <numbers>

#include "lucid/error.h"

namespace lucid::envs::dmc {

double sigmoid(double d, double v, Sigmoid kind) {
  const bool open_interval =
      kind != Sigmoid::kCosine && kind != Sigmoid::kLinear && kind != Sigmoid::kQuadratic;
  if (open_interval) {
    LUCID_CHECK_AS(v > 0.0 && v < 1.0, EnvError) << "value_at_margin must be in (0, 1), got " << v;
  } else {
    LUCID_CHECK_AS(v >= 0.0 && v < 1.0, EnvError) << "value_at_margin must be in [0, 1), got " << v;
  }
  switch (kind) {
    case Sigmoid::kGaussian: {
      const double s = std::sqrt(-2.0 * std::log(v));
      return std::exp(-0.5 * (d * s) * (d * s));
    }
    case Sigmoid::kHyperbolic: {
      const double s = std::acosh(1.0 / v);
      return 1.0 / std::cosh(d * s);
    }
    case Sigmoid::kLongTail: {
      const double s = std::sqrt(1.0 / v - 1.0);
      return 1.0 / ((d * s) * (d * s) + 1.0);
    }
    case Sigmoid::kReciprocal: {
      const double s = 1.0 / v - 1.0;
      return 1.0 / (std::abs(d) * s + 1.0);
    }
    case Sigmoid::kCosine: {
      const double s = std::acos(2.0 * v - 1.0) / std::numbers::pi;
      const double ds = d * s;
      return std::abs(ds) < 1.0 ? (1.0 + std::cos(std::numbers::pi * ds)) / 2.0 : 0.0;
    }
    case Sigmoid::kLinear: {
      const double s = 1.0 - v;
      const double ds = d * s;
      return std::abs(ds) < 1.0 ? 1.0 - ds : 0.0;
    }
    case Sigmoid::kQuadratic: {
      const double s = std::sqrt(1.0 - v);
      const double ds = d * s;
      return std::abs(ds) < 1.0 ? 1.0 - ds * ds : 0.0;
    }
    case Sigmoid::kTanhSquared: {
      const double s = std::atanh(std::sqrt(1.0 - v));
      const double t = std::tanh(d * s);
      return 1.0 - t * t;
    }
  }
  LUCID_FAIL(EnvError) << "unknown sigmoid " << static_cast<int>(kind);
}

double tolerance(double x, Bounds bounds, double margin, Sigmoid kind, double value_at_margin) {
  LUCID_CHECK_AS(bounds.lo <= bounds.hi, EnvError)
      << "lower bound " << bounds.lo << " > upper bound " << bounds.hi;
  LUCID_CHECK_AS(margin >= 0.0, EnvError) << "margin must be >= 0, got " << margin;
  if (bounds.lo <= x && x <= bounds.hi) return 1.0;
  if (margin == 0.0) return 0.0;
  const double d = (x < bounds.lo ? bounds.lo - x : x - bounds.hi) / margin;
  return sigmoid(d, value_at_margin, kind);
}

}  // namespace lucid::envs::dmc
