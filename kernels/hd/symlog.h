// symlog / symexp and the two-hot encoding of TD-MPC2's discrete regression (facts/tdmpc2.md §1.4).
//
// two_hot_bin maps a scalar target to (lower bin index, weight of the upper bin): the target is
// clamped to [vmin, vmax] in symlog space, the lower bin gets 1 - w and bin (idx + 1) % num_bins
// gets w — the modulo mirrors TD-MPC2, where the top bin's zero-weight neighbour wraps to bin 0.
#pragma once

#include <cmath>

#include "hd/hd.h"

namespace lucid::hd {

LUCID_HD inline float symlog(float x) { return copysignf(log1pf(fabsf(x)), x); }
LUCID_HD inline float symexp(float x) { return copysignf(expm1f(fabsf(x)), x); }
LUCID_HD inline float symlog_grad(float x) { return 1.f / (1.f + fabsf(x)); }
LUCID_HD inline float symexp_grad(float x) { return expf(fabsf(x)); }

struct TwoHotBin {
  int lo;
  float w_hi;  // weight of bin (lo + 1) % num_bins; bin lo gets 1 - w_hi
};

LUCID_HD inline TwoHotBin two_hot_bin(float target, int num_bins, float vmin, float vmax) {
  const float bin_size = (vmax - vmin) / static_cast<float>(num_bins - 1);
  float s = symlog(target);
  s = fminf(fmaxf(s, vmin), vmax);
  const float pos = (s - vmin) / bin_size;
  int lo = static_cast<int>(floorf(pos));
  if (lo > num_bins - 1) lo = num_bins - 1;
  if (lo < 0) lo = 0;
  return {lo, pos - static_cast<float>(lo)};
}

}  // namespace lucid::hd
