// Softmax and log-softmax over rows (SimNorm is softmax over rows of `group` features), and the
// fused two-hot soft cross-entropy of TD-MPC2 (facts/tdmpc2.md §1.4).
//
// Shapes: x, y, gx rows x cols. Forward writes y with `=`; backward reads the forward OUTPUT y
// (probabilities, or log-probabilities when log_softmax) and writes gx with `=`.
// soft_ce: logits rows x bins, target rows, loss rows; it saves the row log-sum-exp (lse, rows)
// so backward is one pass: g_logits = g * (softmax - two_hot(target)).
// Threads: OpenMP over rows.
#pragma once

#include <cstdint>

namespace lucid::kernels {

void softmax_forward_cpu(const float* x, float* y, std::int64_t rows, std::int64_t cols, bool log_softmax);
void softmax_backward_cpu(const float* y, const float* gy, float* gx, std::int64_t rows, std::int64_t cols,
                          bool log_softmax);

// rows x num_bins two-hot encoding of the targets (symlog space, clamped to [vmin, vmax]).
void two_hot_cpu(const float* target, float* out, std::int64_t rows, int num_bins, float vmin, float vmax);

void soft_ce_forward_cpu(const float* logits, const float* target, float* loss, float* lse, std::int64_t rows,
                         int num_bins, float vmin, float vmax);
// g_logits[r, :] = gloss[r] * (softmax(logits[r]) - two_hot(target[r])), written with `=`.
void soft_ce_backward_cpu(const float* logits, const float* target, const float* lse, const float* gloss,
                          float* g_logits, std::int64_t rows, int num_bins, float vmin, float vmax);

}  // namespace lucid::kernels

// ---- CUDA backend ----
// softmax_*_cuda, simnorm_*_cuda, two_hot_cuda, soft_ce_*_cuda: the arguments above plus a
// cuda::StreamHandle, device pointers; kernels in kernels/cuda/softmax.cu.
#include "lucid/kernels/cuda/softmax.h"
