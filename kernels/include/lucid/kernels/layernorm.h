// LayerNorm over the last dim, optionally fused with Mish (TD-MPC2's NormedLinear tail).
//
// Shapes: x, y, gx are rows x cols; gamma, beta, dgamma, dbeta are cols; mean, rstd are rows.
// Forward: y = act(gamma * (x - mean) * rstd + beta), act = identity or mish; writes y, mean,
// rstd with `=` — mean and rstd are exactly what backward reads besides x, gamma, beta.
// Backward: gx written with `=`; dgamma, dbeta ACCUMULATED with `+=` (parameter gradients);
// pass nullptr for any gradient that is not wanted (gx, or dgamma/dbeta together).
// Threads: OpenMP over rows; dgamma/dbeta use per-thread partial sums, combined in order.
//
// layernorm_backward_linear_cpu is the backward of Linear -> [dropout] -> LayerNorm(+Mish), the
// MLP layer's tail, in the same one pass per row: after gx (required) it multiplies gx by gx_mask
// (rows x cols, the dropout's keep/(1-p) or 0; null: no dropout) and ACCUMULATES into dbias (cols;
// null: not wanted) the column sums of that gx, the Linear's bias gradient, as per-thread partials
// like dgamma. Two passes over rows x cols fewer than the kernel followed by the mask and the sums.
#pragma once

#include <cstdint>

namespace lucid::kernels {

void layernorm_forward_cpu(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                           float* rstd, std::int64_t rows, std::int64_t cols, float eps, bool fuse_mish);
// layernorm_forward_masked_cpu first multiplies x IN PLACE by x_mask (rows x cols: the dropout
// after the Linear, whose masked output the backward reads as x), row by row in the same pass.
void layernorm_forward_masked_cpu(float* x, const float* x_mask, const float* gamma, const float* beta,
                                  float* y, float* mean, float* rstd, std::int64_t rows, std::int64_t cols,
                                  float eps, bool fuse_mish);
void layernorm_backward_cpu(const float* x, const float* gamma, const float* beta, const float* mean,
                            const float* rstd, const float* gy, float* gx, float* dgamma, float* dbeta,
                            std::int64_t rows, std::int64_t cols, bool fuse_mish);
void layernorm_backward_linear_cpu(const float* x, const float* gamma, const float* beta, const float* mean,
                                   const float* rstd, const float* gy, float* gx, const float* gx_mask,
                                   float* dgamma, float* dbeta, float* dbias, std::int64_t rows,
                                   std::int64_t cols, bool fuse_mish);

}  // namespace lucid::kernels

// ---- CUDA backend ----
// layernorm_forward_cuda, layernorm_backward_cuda and the ensemble (bias + LN + Mish) epilogue: the
// arguments above plus a cuda::StreamHandle, device pointers; kernels in kernels/cuda/layernorm.cu.
#include "lucid/kernels/cuda/layernorm.h"
