// Scalar activations and their derivatives, shared by the CPU kernels and the CUDA kernels.
//
// Derivatives take the input x (and, where cheaper, the output y) so a backward kernel needs only
// what its forward saved. softplus follows PyTorch (threshold 20: returns x above it), and mish is
// x * tanh(softplus(x)) with the same softplus, so values match torch.nn.functional.mish.
#pragma once

#include <cmath>

#include "hd/hd.h"

namespace lucid::hd {

LUCID_HD inline float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }

LUCID_HD inline float softplus(float x) { return x > 20.f ? x : log1pf(expf(x)); }

// mish(x) = x tanh(softplus(x)).
LUCID_HD inline float mish(float x) { return x * tanhf(softplus(x)); }

// d mish / dx = tanh(sp) + x sigmoid(x) (1 - tanh(sp)^2), sp = softplus(x).
LUCID_HD inline float mish_grad(float x) {
  const float t = tanhf(softplus(x));
  return t + x * sigmoid(x) * (1.f - t * t);
}

LUCID_HD inline float elu(float x, float alpha) { return x > 0.f ? x : alpha * (expf(x) - 1.f); }
LUCID_HD inline float elu_grad(float x, float alpha) { return x > 0.f ? 1.f : alpha * expf(x); }

}  // namespace lucid::hd
