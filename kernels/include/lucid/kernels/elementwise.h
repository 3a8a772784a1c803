// Elementwise kernels: unary activations and broadcasting binary arithmetic.
//
// Shapes: unary ops see a flat array of n floats. Binary ops see up to 4-D shapes padded on the
// left with 1s; a size-1 dim of an input broadcasts against the output (numpy rules).
// Memory contract: outputs and input gradients are written with `=`. Broadcast reductions in
// binary backward (sum over broadcast dims) are written with `=` too.
// Threads: OpenMP over elements above a size threshold (lucid/kernels/threading.h).
#pragma once

#include <cstdint>

namespace lucid::kernels {

enum class UnaryOp : int {
  kExp,
  kLog,
  kTanh,
  kSigmoid,
  kSoftplus,
  kRelu,
  kElu,  // alpha = a
  kMish,
  kSquare,
  kSqrt,
  kClamp,  // lo = a, hi = b
  kSymlog,
  kSymexp,
  kAffine,  // y = a * x + b
};

// y = f(x).
void unary_forward_cpu(UnaryOp op, const float* x, float* y, std::int64_t n, float a, float b);
// gx = gy * f'(x); x and y are the forward input and output (either may be read).
void unary_backward_cpu(UnaryOp op, const float* x, const float* y, const float* gy, float* gx,
                        std::int64_t n, float a, float b);

enum class BinaryOp : int { kAdd, kSub, kMul, kDiv, kMin, kMax };

// Left-padded 4-D extents for broadcasting.
struct Dims4 {
  std::int64_t d[4];
};

// out[o] = f(a[bcast(o)], b[bcast(o)]) over the output extents.
void binary_forward_cpu(BinaryOp op, const float* a, Dims4 a_dims, const float* b, Dims4 b_dims, float* out,
                        Dims4 out_dims);
// ga / gb (either may be null when not wanted) = the gradient w.r.t. a / b, summed over the dims
// along which that input was broadcast.
void binary_backward_cpu(BinaryOp op, const float* a, Dims4 a_dims, const float* b, Dims4 b_dims,
                         const float* gout, Dims4 out_dims, float* ga, float* gb);

}  // namespace lucid::kernels

// ---- CUDA backend ----
// unary_*_cuda, binary_*_cuda: the arguments above plus a cuda::StreamHandle, device pointers;
// with fill_cuda, accumulate_cuda and expand_cuda, the engine's device helpers. Kernels in
// kernels/cuda/elementwise.cu.
#include "lucid/kernels/cuda/elementwise.h"
