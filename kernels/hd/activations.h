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

// e^x as straight-line float arithmetic (Cephes expf: x = n ln2 + r, a degree-6 polynomial for e^r,
// 2^n built in the exponent bits), within 2 ulp of expf on [-87.3, 88.3] and clamped outside.
// Why not expf: glibc's expf is an opaque call, so loops over mish (53% of an MLP training step
// when it went through expm1f/log1pf/tanhf) cannot vectorize; this inlines, and the loops that use
// it vectorize once the compiler may if-convert the clamps (lucid_kernels builds with
// -fno-trapping-math for that). On the device the hardware expf is faster and as accurate.
//
// exp_poly_steps is the arithmetic on any float type F: float, or a GCC/Clang vector of floats
// (kernels/cpu/softmax.cc holds 16 lanes in one register). pow2(n) returns 2^n for the integral
// values in n, built from F's integer twin. Only clamps and straight-line arithmetic, so a loop
// calling it needs no branches; the clamps keep x when the comparison is false, so NaN stays NaN.
template <typename F, typename Pow2>
LUCID_HD inline F exp_poly_steps(F x, Pow2 pow2) {
  const F lo = F{} + -87.33654f, hi = F{} + 88.37626f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  constexpr float kRound = 12582912.f;  // 1.5 * 2^23: adding and subtracting it rounds to nearest
  const F n = (x * 1.44269504088896341f + kRound) - kRound;
  const F r = (x - n * 0.693359375f) + n * 2.12194440e-4f;  // ln2 in two parts: n * hi is exact
  F p = F{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  return p * pow2(n);
}

LUCID_HD inline float exp_poly(float x) {
#if defined(__CUDA_ARCH__)
  return expf(x);
#else
  return exp_poly_steps(x, [](float n) {
    const int bits = (static_cast<int>(n) + 127) << 23;
    float scale;
    __builtin_memcpy(&scale, &bits, sizeof(scale));
    return scale;
  });
#endif
}

// mish(x) = x tanh(softplus(x)) = x n / (n + 2) with n = e^x (e^x + 2): one exponential, no
// cancellation for negative x (n ~ 2e^x there). For x >= 20 (PyTorch's softplus threshold)
// n / (n + 2) rounds to exactly 1, so mish(x) = x there without a branch. Agrees with the libm
// composition x tanh(log1p(exp(x))) within a few ulp.
LUCID_HD inline float mish(float x) {
  const float e = exp_poly(x > 20.f ? 20.f : x);
  const float n = e * (e + 2.f);
  return x * n / (n + 2.f);
}

// d mish / dx = tanh(sp) + x sigmoid(x) (1 - tanh(sp)^2), sp = softplus(x), with tanh(sp) =
// n / (n + 2) and 1 - tanh(sp)^2 = 2 (1 + tanh(sp)) / (n + 2), from the same single exponential.
// With x clamped to 20 the second term vanishes in float above it, so the result is exactly 1.
LUCID_HD inline float mish_grad(float x) {
  const float xc = x > 20.f ? 20.f : x;
  const float e = exp_poly(xc);
  const float n = e * (e + 2.f);
  const float d = 1.f / ((n + 2.f) * (1.f + e));  // one division for both (<= 1.2e26: no overflow)
  const float inv = (1.f + e) * d;                // 1 / (n + 2)
  const float t = n * inv;
  const float sig = e * (n + 2.f) * d;  // e / (1 + e)
  return t + xc * sig * 2.f * (1.f + t) * inv;
}

LUCID_HD inline float elu(float x, float alpha) { return x > 0.f ? x : alpha * (expf(x) - 1.f); }
LUCID_HD inline float elu_grad(float x, float alpha) { return x > 0.f ? 1.f : alpha * expf(x); }

}  // namespace lucid::hd
