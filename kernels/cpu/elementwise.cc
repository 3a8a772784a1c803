// CPU elementwise kernels (lucid/kernels/elementwise.h): readable loops, the oracle for CUDA.
#include "lucid/kernels/elementwise.h"

#include <cmath>

#include "hd/activations.h"
#include "hd/symlog.h"
#include "lucid/kernels/threading.h"

namespace lucid::kernels {
namespace {

// One switch per call, not per element: each case is its own vectorisable loop.
template <typename F>
void map1(const float* x, float* y, std::int64_t n, F f) {
#pragma omp parallel for simd if (n >= kParallelGrain) schedule(static)
  for (std::int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

template <typename F>
void map_grad(const float* x, const float* y, const float* gy, float* gx, std::int64_t n, F f) {
#pragma omp parallel for simd if (n >= kParallelGrain) schedule(static)
  for (std::int64_t i = 0; i < n; ++i) gx[i] = gy[i] * f(x[i], y[i]);
}

}  // namespace

void unary_forward_cpu(UnaryOp op, const float* x, float* y, std::int64_t n, float a, float b) {
  switch (op) {
    case UnaryOp::kExp:
      return map1(x, y, n, [](float v) { return expf(v); });
    case UnaryOp::kLog:
      return map1(x, y, n, [](float v) { return logf(v); });
    case UnaryOp::kTanh:
      return map1(x, y, n, [](float v) { return tanhf(v); });
    case UnaryOp::kSigmoid:
      return map1(x, y, n, [](float v) { return hd::sigmoid(v); });
    case UnaryOp::kSoftplus:
      return map1(x, y, n, [](float v) { return hd::softplus(v); });
    case UnaryOp::kRelu:
      return map1(x, y, n, [](float v) { return v > 0.f ? v : 0.f; });
    case UnaryOp::kElu:
      return map1(x, y, n, [a](float v) { return hd::elu(v, a); });
    case UnaryOp::kMish:
      return map1(x, y, n, [](float v) { return hd::mish(v); });
    case UnaryOp::kSquare:
      return map1(x, y, n, [](float v) { return v * v; });
    case UnaryOp::kSqrt:
      return map1(x, y, n, [](float v) { return sqrtf(v); });
    case UnaryOp::kClamp:
      return map1(x, y, n, [a, b](float v) { return fminf(fmaxf(v, a), b); });
    case UnaryOp::kSymlog:
      return map1(x, y, n, [](float v) { return hd::symlog(v); });
    case UnaryOp::kSymexp:
      return map1(x, y, n, [](float v) { return hd::symexp(v); });
    case UnaryOp::kAffine:
      return map1(x, y, n, [a, b](float v) { return a * v + b; });
  }
}

void unary_backward_cpu(UnaryOp op, const float* x, const float* y, const float* gy, float* gx,
                        std::int64_t n, float a, float b) {
  switch (op) {
    case UnaryOp::kExp:
      return map_grad(x, y, gy, gx, n, [](float, float o) { return o; });
    case UnaryOp::kLog:
      return map_grad(x, y, gy, gx, n, [](float v, float) { return 1.f / v; });
    case UnaryOp::kTanh:
      return map_grad(x, y, gy, gx, n, [](float, float o) { return 1.f - o * o; });
    case UnaryOp::kSigmoid:
      return map_grad(x, y, gy, gx, n, [](float, float o) { return o * (1.f - o); });
    case UnaryOp::kSoftplus:
      return map_grad(x, y, gy, gx, n, [](float v, float) { return v > 20.f ? 1.f : hd::sigmoid(v); });
    case UnaryOp::kRelu:
      return map_grad(x, y, gy, gx, n, [](float v, float) { return v > 0.f ? 1.f : 0.f; });
    case UnaryOp::kElu:
      return map_grad(x, y, gy, gx, n, [a](float v, float) { return hd::elu_grad(v, a); });
    case UnaryOp::kMish:
      return map_grad(x, y, gy, gx, n, [](float v, float) { return hd::mish_grad(v); });
    case UnaryOp::kSquare:
      return map_grad(x, y, gy, gx, n, [](float v, float) { return 2.f * v; });
    case UnaryOp::kSqrt:
      return map_grad(x, y, gy, gx, n, [](float, float o) { return 0.5f / o; });
    case UnaryOp::kClamp:
      return map_grad(x, y, gy, gx, n, [a, b](float v, float) { return v > a && v < b ? 1.f : 0.f; });
    case UnaryOp::kSymlog:
      return map_grad(x, y, gy, gx, n, [](float v, float) { return hd::symlog_grad(v); });
    case UnaryOp::kSymexp:
      return map_grad(x, y, gy, gx, n, [](float v, float) { return hd::symexp_grad(v); });
    case UnaryOp::kAffine:
      return map_grad(x, y, gy, gx, n, [a](float, float) { return a; });
  }
}

namespace {

// d out / d a and d out / d b at one element.
void partials(BinaryOp op, float a, float b, float* da, float* db) {
  switch (op) {
    case BinaryOp::kAdd:
      *da = 1.f, *db = 1.f;
      return;
    case BinaryOp::kSub:
      *da = 1.f, *db = -1.f;
      return;
    case BinaryOp::kMul:
      *da = b, *db = a;
      return;
    case BinaryOp::kDiv:
      *da = 1.f / b, *db = -a / (b * b);
      return;
    case BinaryOp::kMin:
      *da = a <= b ? 1.f : 0.f, *db = 1.f - *da;
      return;
    case BinaryOp::kMax:
      *da = a >= b ? 1.f : 0.f, *db = 1.f - *da;
      return;
  }
}

std::int64_t numel(Dims4 d) { return d.d[0] * d.d[1] * d.d[2] * d.d[3]; }

// Element strides of an input viewed with the output's extents (0 along broadcast dims).
void bcast_strides(Dims4 in, std::int64_t s[4]) {
  std::int64_t stride = 1;
  for (int k = 3; k >= 0; --k) {
    s[k] = in.d[k] == 1 ? 0 : stride;
    stride *= in.d[k];
  }
}

bool same(Dims4 x, Dims4 y) {
  return x.d[0] == y.d[0] && x.d[1] == y.d[1] && x.d[2] == y.d[2] && x.d[3] == y.d[3];
}

template <typename F>
void for_each_index(Dims4 out, const std::int64_t sa[4], const std::int64_t sb[4], F f) {
  std::int64_t o = 0;
  for (std::int64_t i0 = 0; i0 < out.d[0]; ++i0)
    for (std::int64_t i1 = 0; i1 < out.d[1]; ++i1)
      for (std::int64_t i2 = 0; i2 < out.d[2]; ++i2) {
        const std::int64_t ba = i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
        const std::int64_t bb = i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
        for (std::int64_t i3 = 0; i3 < out.d[3]; ++i3, ++o) f(o, ba + i3 * sa[3], bb + i3 * sb[3]);
      }
}

}  // namespace

namespace {

template <BinaryOp Op>
inline float apply_t(float a, float b) {
  if constexpr (Op == BinaryOp::kAdd) return a + b;
  if constexpr (Op == BinaryOp::kSub) return a - b;
  if constexpr (Op == BinaryOp::kMul) return a * b;
  if constexpr (Op == BinaryOp::kDiv) return a / b;
  if constexpr (Op == BinaryOp::kMin) return a <= b ? a : b;
  if constexpr (Op == BinaryOp::kMax) return a >= b ? a : b;
  return 0.f;
}

// The op is a template parameter so each inner loop is straight-line and vectorises. Broadcasts
// run as rows of the output's last dim, in which each input either advances (stride 1) or repeats
// one value (stride 0): row (bias-like) and column broadcasts both stay vectorised.
template <BinaryOp Op>
void binary_forward_t(const float* a, Dims4 ad, const float* b, Dims4 bd, float* out, Dims4 od) {
  const std::int64_t n = numel(od);
  if (same(ad, od) && same(bd, od)) {
#pragma omp parallel for simd if (n >= kParallelGrain) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) out[i] = apply_t<Op>(a[i], b[i]);
    return;
  }
  std::int64_t sa[4], sb[4];
  bcast_strides(ad, sa);
  bcast_strides(bd, sb);
  const std::int64_t inner = od.d[3], rows = inner ? n / inner : 0;
#pragma omp parallel for if (n >= kParallelGrain) schedule(static)
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t i2 = row % od.d[2], i1 = (row / od.d[2]) % od.d[1], i0 = row / (od.d[2] * od.d[1]);
    const float* ar = a + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
    const float* br = b + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
    float* o = out + row * inner;
    if (sa[3] && sb[3]) {
#pragma omp simd
      for (std::int64_t i = 0; i < inner; ++i) o[i] = apply_t<Op>(ar[i], br[i]);
    } else if (sa[3]) {
      const float bv = br[0];
#pragma omp simd
      for (std::int64_t i = 0; i < inner; ++i) o[i] = apply_t<Op>(ar[i], bv);
    } else if (sb[3]) {
      const float av = ar[0];
#pragma omp simd
      for (std::int64_t i = 0; i < inner; ++i) o[i] = apply_t<Op>(av, br[i]);
    } else {
      const float v = apply_t<Op>(ar[0], br[0]);
      for (std::int64_t i = 0; i < inner; ++i) o[i] = v;
    }
  }
}

}  // namespace

void binary_forward_cpu(BinaryOp op, const float* a, Dims4 a_dims, const float* b, Dims4 b_dims, float* out,
                        Dims4 out_dims) {
  switch (op) {
    case BinaryOp::kAdd:
      return binary_forward_t<BinaryOp::kAdd>(a, a_dims, b, b_dims, out, out_dims);
    case BinaryOp::kSub:
      return binary_forward_t<BinaryOp::kSub>(a, a_dims, b, b_dims, out, out_dims);
    case BinaryOp::kMul:
      return binary_forward_t<BinaryOp::kMul>(a, a_dims, b, b_dims, out, out_dims);
    case BinaryOp::kDiv:
      return binary_forward_t<BinaryOp::kDiv>(a, a_dims, b, b_dims, out, out_dims);
    case BinaryOp::kMin:
      return binary_forward_t<BinaryOp::kMin>(a, a_dims, b, b_dims, out, out_dims);
    case BinaryOp::kMax:
      return binary_forward_t<BinaryOp::kMax>(a, a_dims, b, b_dims, out, out_dims);
  }
}

void binary_backward_cpu(BinaryOp op, const float* a, Dims4 a_dims, const float* b, Dims4 b_dims,
                         const float* gout, Dims4 out_dims, float* ga, float* gb) {
  const std::int64_t n = numel(out_dims);
  if (same(a_dims, out_dims) && same(b_dims, out_dims)) {
#pragma omp parallel for if (n >= kParallelGrain) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      float da = 0.f, db = 0.f;
      partials(op, a[i], b[i], &da, &db);
      if (ga) ga[i] = gout[i] * da;
      if (gb) gb[i] = gout[i] * db;
    }
    return;
  }
  // Broadcast inputs: sum the gradient over broadcast positions (serial: scatter-add).
  if (ga)
    for (std::int64_t i = 0, m = numel(a_dims); i < m; ++i) ga[i] = 0.f;
  if (gb)
    for (std::int64_t i = 0, m = numel(b_dims); i < m; ++i) gb[i] = 0.f;
  std::int64_t sa[4], sb[4];
  bcast_strides(a_dims, sa);
  bcast_strides(b_dims, sb);
  for_each_index(out_dims, sa, sb, [&](std::int64_t o, std::int64_t ia, std::int64_t ib) {
    float da = 0.f, db = 0.f;
    partials(op, a[ia], b[ib], &da, &db);
    if (ga) ga[ia] += gout[o] * da;
    if (gb) gb[ib] += gout[o] * db;
  });
}

}  // namespace lucid::kernels
