// LayerNorm over the last dim, optionally fused with Mish (TD-MPC2's NormedLinear tail).
//
// Shapes: x, y, gx are rows x cols; gamma, beta, dgamma, dbeta are cols; mean, rstd are rows.
// Forward: y = act(gamma * (x - mean) * rstd + beta), act = identity or mish; writes y, mean,
// rstd with `=` — mean and rstd are exactly what backward reads besides x, gamma, beta.
// Backward: gx written with `=`; dgamma, dbeta ACCUMULATED with `+=` (parameter gradients);
// pass nullptr for any gradient that is not wanted (gx, or dgamma/dbeta together).
// Threads: OpenMP over rows; dgamma/dbeta use per-thread partial sums, combined in order.
#pragma once

#include <cstdint>

namespace lucid::kernels {

void layernorm_forward_cpu(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                           float* rstd, std::int64_t rows, std::int64_t cols, float eps, bool fuse_mish);
void layernorm_backward_cpu(const float* x, const float* gamma, const float* beta, const float* mean,
                            const float* rstd, const float* gy, float* gx, float* dgamma, float* dbeta,
                            std::int64_t rows, std::int64_t cols, bool fuse_mish);

}  // namespace lucid::kernels

// ---- CUDA backend ----
// layernorm_forward_cuda, layernorm_backward_cuda and the ensemble (bias + LN + Mish) epilogue: the
// arguments above plus a cuda::StreamHandle, device pointers; kernels in kernels/cuda/layernorm.cu.
#include "lucid/kernels/cuda/layernorm.h"
