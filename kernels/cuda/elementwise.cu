// Elementwise kernels on the GPU: unary activations, broadcasting binary arithmetic, and the
// engine's fill / accumulate / expand. Contract and shapes: lucid/kernels/cuda/elementwise.h
// (CPU twin: lucid/kernels/elementwise.h, kernels/cpu/elementwise.cc).
//
// Launch shape: one thread per output element in 256-thread blocks, grid-stride so any n fits in
// the grid limit. The scalar math is kernels/hd (mish, softplus, symlog, ...), the very functions
// the CPU loops call, so both backends compute the same expressions.
// Broadcasting: an input seen with the output's 4-D extents has stride 0 along its size-1 dims.
// Binary backward gives each INPUT element one thread that sums, in a fixed order, the output
// elements it was broadcast to — deterministic, unlike an atomicAdd scatter, and each gradient
// is written with `=`.
#include "hd/activations.h"
#include "hd/symlog.h"
#include "lucid/kernels/cuda/elementwise.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid::kernels {
namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxBlocks = 65535;  // grid-stride beyond this

unsigned grid_for(std::int64_t n, int threads) {
  const unsigned b = cuda::blocks_for(static_cast<std::size_t>(n), static_cast<std::size_t>(threads));
  return b < kMaxBlocks ? (b > 0 ? b : 1) : kMaxBlocks;
}

__device__ __forceinline__ std::int64_t first_index() {
  return std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t grid_stride() { return std::int64_t{gridDim.x} * blockDim.x; }

__device__ __forceinline__ float unary_value(UnaryOp op, float v, float a, float b) {
  switch (op) {
    case UnaryOp::kExp:
      return expf(v);
    case UnaryOp::kLog:
      return logf(v);
    case UnaryOp::kTanh:
      return tanhf(v);
    case UnaryOp::kSigmoid:
      return hd::sigmoid(v);
    case UnaryOp::kSoftplus:
      return hd::softplus(v);
    case UnaryOp::kRelu:
      return v > 0.f ? v : 0.f;
    case UnaryOp::kElu:
      return hd::elu(v, a);
    case UnaryOp::kMish:
      return hd::mish(v);
    case UnaryOp::kSquare:
      return v * v;
    case UnaryOp::kSqrt:
      return sqrtf(v);
    case UnaryOp::kClamp:
      return fminf(fmaxf(v, a), b);
    case UnaryOp::kSymlog:
      return hd::symlog(v);
    case UnaryOp::kSymexp:
      return hd::symexp(v);
    case UnaryOp::kAffine:
      return a * v + b;
  }
  return 0.f;
}

// f'(x), given the forward input v and output o (some derivatives are cheaper from o).
__device__ __forceinline__ float unary_derivative(UnaryOp op, float v, float o, float a, float b) {
  switch (op) {
    case UnaryOp::kExp:
      return o;
    case UnaryOp::kLog:
      return 1.f / v;
    case UnaryOp::kTanh:
      return 1.f - o * o;
    case UnaryOp::kSigmoid:
      return o * (1.f - o);
    case UnaryOp::kSoftplus:
      return v > 20.f ? 1.f : hd::sigmoid(v);
    case UnaryOp::kRelu:
      return v > 0.f ? 1.f : 0.f;
    case UnaryOp::kElu:
      return hd::elu_grad(v, a);
    case UnaryOp::kMish:
      return hd::mish_grad(v);
    case UnaryOp::kSquare:
      return 2.f * v;
    case UnaryOp::kSqrt:
      return 0.5f / o;
    case UnaryOp::kClamp:
      return v > a && v < b ? 1.f : 0.f;
    case UnaryOp::kSymlog:
      return hd::symlog_grad(v);
    case UnaryOp::kSymexp:
      return hd::symexp_grad(v);
    case UnaryOp::kAffine:
      return a;
  }
  return 0.f;
}

__global__ void unary_forward_kernel(UnaryOp op, const float* x, float* y, std::int64_t n, float a, float b) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) y[i] = unary_value(op, x[i], a, b);
}

__global__ void unary_backward_kernel(UnaryOp op, const float* x, const float* y, const float* gy, float* gx,
                                      std::int64_t n, float a, float b) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride())
    gx[i] = gy[i] * unary_derivative(op, x[i], y[i], a, b);
}

// Output coordinates of a flat index, and an input's flat index under broadcasting.
struct Coords {
  std::int64_t i[4];
};
__device__ __forceinline__ Coords coords_of(std::int64_t o, const Dims4& d) {
  Coords c;
  for (int k = 3; k >= 0; --k) {
    c.i[k] = o % d.d[k];
    o /= d.d[k];
  }
  return c;
}
__device__ __forceinline__ std::int64_t bcast_index(const Coords& c, const Dims4& in) {
  std::int64_t idx = 0;
  for (int k = 0; k < 4; ++k) idx = idx * in.d[k] + (in.d[k] == 1 ? 0 : c.i[k]);
  return idx;
}

__device__ __forceinline__ float binary_value(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSub:
      return a - b;
    case BinaryOp::kMul:
      return a * b;
    case BinaryOp::kDiv:
      return a / b;
    case BinaryOp::kMin:
      return a <= b ? a : b;
    case BinaryOp::kMax:
      return a >= b ? a : b;
  }
  return 0.f;
}

// d out / d a (wrt_a) or d out / d b at one element; ties of min/max go to a, as on the CPU.
__device__ __forceinline__ float binary_partial(BinaryOp op, float a, float b, bool wrt_a) {
  switch (op) {
    case BinaryOp::kAdd:
      return 1.f;
    case BinaryOp::kSub:
      return wrt_a ? 1.f : -1.f;
    case BinaryOp::kMul:
      return wrt_a ? b : a;
    case BinaryOp::kDiv:
      return wrt_a ? 1.f / b : -a / (b * b);
    case BinaryOp::kMin: {
      const float da = a <= b ? 1.f : 0.f;
      return wrt_a ? da : 1.f - da;
    }
    case BinaryOp::kMax: {
      const float da = a >= b ? 1.f : 0.f;
      return wrt_a ? da : 1.f - da;
    }
  }
  return 0.f;
}

__global__ void binary_forward_kernel(BinaryOp op, const float* a, Dims4 ad, const float* b, Dims4 bd,
                                      float* out, Dims4 od, std::int64_t n) {
  for (std::int64_t o = first_index(); o < n; o += grid_stride()) {
    const Coords c = coords_of(o, od);
    out[o] = binary_value(op, a[bcast_index(c, ad)], b[bcast_index(c, bd)]);
  }
}

// g_self (one element per thread of `self`'s extents) = sum over the output elements that read
// it of gout * d out / d self. `other` is the second operand; wrt_a says which side self is.
__global__ void binary_backward_kernel(BinaryOp op, const float* self, Dims4 sd, const float* other, Dims4 xd,
                                       const float* gout, Dims4 od, float* g_self, std::int64_t n_self,
                                       bool wrt_a) {
  // The broadcast dims of self: where it has extent 1 and the output does not.
  std::int64_t reps = 1;
  for (int k = 0; k < 4; ++k)
    if (sd.d[k] == 1) reps *= od.d[k];
  for (std::int64_t s = first_index(); s < n_self; s += grid_stride()) {
    const Coords base = coords_of(s, sd);
    float acc = 0.f;
    for (std::int64_t r = 0; r < reps; ++r) {
      Coords c = base;
      std::int64_t rr = r;
      for (int k = 3; k >= 0; --k)
        if (sd.d[k] == 1) {
          c.i[k] = rr % od.d[k];
          rr /= od.d[k];
        }
      std::int64_t o = 0;
      for (int k = 0; k < 4; ++k) o = o * od.d[k] + c.i[k];
      const float sv = self[s], xv = other[bcast_index(c, xd)];
      acc += gout[o] * (wrt_a ? binary_partial(op, sv, xv, true) : binary_partial(op, xv, sv, false));
    }
    g_self[s] = acc;
  }
}

__global__ void fill_kernel(float* x, std::int64_t n, float value) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) x[i] = value;
}

__global__ void accumulate_kernel(float* dst, const float* src, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) dst[i] += src[i];
}

__global__ void expand_kernel(const float* src, Dims4 sd, float* dst, Dims4 dd, float scale, std::int64_t n) {
  for (std::int64_t o = first_index(); o < n; o += grid_stride())
    dst[o] = scale * src[bcast_index(coords_of(o, dd), sd)];
}

std::int64_t numel(const Dims4& d) { return d.d[0] * d.d[1] * d.d[2] * d.d[3]; }

void check_broadcast(const char* name, const Dims4& in, const Dims4& out) {
  for (int k = 0; k < 4; ++k)
    LUCID_CHECK_SHAPE(in.d[k] == out.d[k] || in.d[k] == 1)
        << name << ": input extent " << in.d[k] << " does not broadcast to " << out.d[k] << " (dim " << k
        << " of 4)";
}

}  // namespace

void unary_forward_cuda(UnaryOp op, const float* x, float* y, std::int64_t n, float a, float b,
                        cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(n >= 0) << "unary: n=" << n;
  if (n == 0) return;
  LUCID_NVTX_RANGE("kernels/unary_forward");
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(unary_forward_kernel, grid_for(n, threads), threads, 0, stream, op, x, y, n, a, b);
}

void unary_backward_cuda(UnaryOp op, const float* x, const float* y, const float* gy, float* gx,
                         std::int64_t n, float a, float b, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(n >= 0) << "unary: n=" << n;
  if (n == 0) return;
  LUCID_NVTX_RANGE("kernels/unary_backward");
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(unary_backward_kernel, grid_for(n, threads), threads, 0, stream, op, x, y, gy, gx, n, a, b);
}

void binary_forward_cuda(BinaryOp op, const float* a, Dims4 a_dims, const float* b, Dims4 b_dims, float* out,
                         Dims4 out_dims, cuda::StreamHandle stream) {
  check_broadcast("binary", a_dims, out_dims);
  check_broadcast("binary", b_dims, out_dims);
  const std::int64_t n = numel(out_dims);
  if (n == 0) return;
  LUCID_NVTX_RANGE("kernels/binary_forward");
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(binary_forward_kernel, grid_for(n, threads), threads, 0, stream, op, a, a_dims, b, b_dims, out,
               out_dims, n);
}

void binary_backward_cuda(BinaryOp op, const float* a, Dims4 a_dims, const float* b, Dims4 b_dims,
                          const float* gout, Dims4 out_dims, float* ga, float* gb,
                          cuda::StreamHandle stream) {
  check_broadcast("binary backward", a_dims, out_dims);
  check_broadcast("binary backward", b_dims, out_dims);
  if (numel(out_dims) == 0) return;
  LUCID_NVTX_RANGE("kernels/binary_backward");
  const int threads = cuda::block_threads(kThreads);
  if (ga) {
    const std::int64_t n = numel(a_dims);
    LUCID_LAUNCH(binary_backward_kernel, grid_for(n, threads), threads, 0, stream, op, a, a_dims, b, b_dims,
                 gout, out_dims, ga, n, true);
  }
  if (gb) {
    const std::int64_t n = numel(b_dims);
    LUCID_LAUNCH(binary_backward_kernel, grid_for(n, threads), threads, 0, stream, op, b, b_dims, a, a_dims,
                 gout, out_dims, gb, n, false);
  }
}

void fill_cuda(float* x, std::int64_t n, float value, cuda::StreamHandle stream) {
  if (n <= 0) return;
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(fill_kernel, grid_for(n, threads), threads, 0, stream, x, n, value);
}

void accumulate_cuda(float* dst, const float* src, std::int64_t n, cuda::StreamHandle stream) {
  if (n <= 0) return;
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(accumulate_kernel, grid_for(n, threads), threads, 0, stream, dst, src, n);
}

void expand_cuda(const float* src, Dims4 src_dims, float* dst, Dims4 dst_dims, float scale,
                 cuda::StreamHandle stream) {
  check_broadcast("expand", src_dims, dst_dims);
  const std::int64_t n = numel(dst_dims);
  if (n == 0) return;
  LUCID_NVTX_RANGE("kernels/expand");
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(expand_kernel, grid_for(n, threads), threads, 0, stream, src, src_dims, dst, dst_dims, scale,
               n);
}

}  // namespace lucid::kernels
