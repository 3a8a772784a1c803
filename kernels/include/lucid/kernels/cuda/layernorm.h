// CUDA LayerNorm(+Mish), plain and per-ensemble-member with a fused bias (kernels/cuda/layernorm.cu).
//
// layernorm_{forward,backward}_cuda: the arguments and contract of layernorm_*_cpu
// (lucid/kernels/layernorm.h) plus a stream: x, y, gx rows x cols; gamma, beta, dgamma, dbeta
// cols; mean, rstd rows. y, mean, rstd, gx are written with `=`; dgamma, dbeta accumulate `+=`.
//
// ensemble_layernorm_{forward,backward}_cuda: the Q-ensemble epilogue after a strided-batched
// GEMM. x is members x rows x cols (the GEMM output, bias not yet added); bias, gamma, beta,
// dbias, dgamma, dbeta are members x cols; mean, rstd members x rows. Forward computes
//   y = act(gamma_e * LN(x + bias_e) + beta_e)
// in one launch. Backward writes gx (= d/dx = d/d(x + bias)) with `=` and accumulates dbias,
// dgamma, dbeta with `+=`; dbias needs gx. bias may be null (no bias).
// All pointers are device pointers.
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

void layernorm_forward_cuda(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                            float* rstd, std::int64_t rows, std::int64_t cols, float eps, bool fuse_mish,
                            cuda::StreamHandle stream);
void layernorm_backward_cuda(const float* x, const float* gamma, const float* beta, const float* mean,
                             const float* rstd, const float* gy, float* gx, float* dgamma, float* dbeta,
                             std::int64_t rows, std::int64_t cols, bool fuse_mish, cuda::StreamHandle stream);

void ensemble_layernorm_forward_cuda(const float* x, const float* bias, const float* gamma, const float* beta,
                                     float* y, float* mean, float* rstd, std::int64_t members,
                                     std::int64_t rows, std::int64_t cols, float eps, bool fuse_mish,
                                     cuda::StreamHandle stream);
void ensemble_layernorm_backward_cuda(const float* x, const float* bias, const float* gamma,
                                      const float* beta, const float* mean, const float* rstd,
                                      const float* gy, float* gx, float* dbias, float* dgamma, float* dbeta,
                                      std::int64_t members, std::int64_t rows, std::int64_t cols,
                                      bool fuse_mish, cuda::StreamHandle stream);

}  // namespace lucid::kernels
