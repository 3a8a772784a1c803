// The small epilogues of a differentiable rollout on the GPU (kernels/cuda/rollout.cu): what the
// device action gradient of the gradient planners (Dream-MPC, Grad-MPC) does between its GEMM and
// LayerNorm launches, so that a plan step stays on the device (and can be one CUDA graph).
// Each is the CPU loop of models/tdmpc2/action_gradient.cc with the same float order.
//
// rollout_accumulate_cuda: y[i] = (assign ? 0 : y[i]) + alpha * x[i], i < n — the discounted
//   reward and terminal-value sums of the objective.
// ensemble_uncertainty_cuda: values is K x n (member k's value of entry i at k * n + i), n a
//   multiple of rows, entry i belonging to row i % rows. For each row, in increasing i:
//   value[row] -= coef * mean_k * std_k (std with Bessel's correction, 0 for K = 1).
// head_weighted_accumulate_cuda: value[r] += sum_k (scale * weight[k]) * values[k * ld + r], k
//   ascending, r < rows — the terminal value as a weighted mean of the Q heads, the weights
//   (members, device) read when the kernel runs so a captured graph replays with a new head pair
//   (0 for heads not drawn).
// accumulate_rows_cuda: dst[r * dst_ld + c] += src[r * src_ld + c], r < rows, c < width — the
//   latent and action columns of an input gradient added into dJ/dz and dJ/da.
// All pointers are device pointers; outputs not named are not touched.
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

void rollout_accumulate_cuda(float* y, const float* x, float alpha, bool assign, std::int64_t n,
                             cuda::StreamHandle stream);
void ensemble_uncertainty_cuda(const float* values, int members, std::int64_t n, std::int64_t rows,
                               float coef, float* value, cuda::StreamHandle stream);
void head_weighted_accumulate_cuda(const float* values, std::int64_t ld, int members, const float* weight,
                                   float scale, float* value, std::int64_t rows, cuda::StreamHandle stream);
void accumulate_rows_cuda(const float* src, std::int64_t src_ld, float* dst, std::int64_t dst_ld,
                          std::int64_t rows, std::int64_t width, cuda::StreamHandle stream);

}  // namespace lucid::kernels
