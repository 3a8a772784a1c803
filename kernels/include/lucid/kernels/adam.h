// Optimizer-step kernels on flat parameter arenas: one Adam update and the two halves of global
// grad-norm clipping (sum of squares, then scale).
//
// Shapes: every pointer addresses n contiguous floats (one parameter group of the arena).
// Memory contract: adam_step_cpu updates params, exp_avg and exp_avg_sq in place and only reads
// grads; sumsq_cpu reads only; scale_cpu scales x in place.
// Adam follows torch.optim.Adam (no weight decay, no amsgrad):
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= (lr / bias_c1) * m / (sqrt(v) / sqrt(bias_c2) + eps),  bias_ci = 1 - bi^t
// The caller computes bias_c1/bias_c2 from the step count, so one kernel serves CPU and CUDA.
#pragma once

#include <cstddef>

namespace lucid::kernels {

void adam_step_cpu(float* params, const float* grads, float* exp_avg, float* exp_avg_sq, std::size_t n,
                   float lr, float beta1, float beta2, float eps, float bias_c1, float bias_c2);

// Sum of squares accumulated in double so that a 300M-element arena does not lose precision.
double sumsq_cpu(const float* x, std::size_t n);

void scale_cpu(float* x, std::size_t n, float s);

}  // namespace lucid::kernels

// ---- CUDA backend ----
// adam_step_cuda, adam_arena_step_cuda (all groups in one launch), sumsq_cuda, scale_cuda,
// clip_by_norm_cuda: the arguments above plus a cuda::StreamHandle, device pointers; kernels in
// kernels/cuda/optim.cu.
#include "lucid/kernels/cuda/optim.h"
