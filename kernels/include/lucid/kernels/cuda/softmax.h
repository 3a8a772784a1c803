// CUDA softmax / log-softmax, SimNorm, two-hot and the fused two-hot soft cross-entropy
// (kernels/cuda/softmax.cu). Arguments and contracts are those of lucid/kernels/softmax.h plus a
// stream: forward writes y (or loss and lse) with `=`; backward reads the forward output y (or
// the saved lse) and writes gx (g_logits) with `=`. All pointers are device pointers.
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

void softmax_forward_cuda(const float* x, float* y, std::int64_t rows, std::int64_t cols, bool log_softmax,
                          cuda::StreamHandle stream);
void softmax_backward_cuda(const float* y, const float* gy, float* gx, std::int64_t rows, std::int64_t cols,
                           bool log_softmax, cuda::StreamHandle stream);

// SimNorm (TD-MPC2): x, y are rows x dim; each run of `group` features is softmaxed on its own
// (dim % group == 0). The same kernel as softmax on rows*dim/group rows of `group` columns,
// launched with `group` lanes per row so a 512-wide latent with groups of 8 is one pass.
void simnorm_forward_cuda(const float* x, float* y, std::int64_t rows, std::int64_t dim, std::int64_t group,
                          cuda::StreamHandle stream);
void simnorm_backward_cuda(const float* y, const float* gy, float* gx, std::int64_t rows, std::int64_t dim,
                           std::int64_t group, cuda::StreamHandle stream);

void two_hot_cuda(const float* target, float* out, std::int64_t rows, int num_bins, float vmin, float vmax,
                  cuda::StreamHandle stream);
void soft_ce_forward_cuda(const float* logits, const float* target, float* loss, float* lse,
                          std::int64_t rows, int num_bins, float vmin, float vmax, cuda::StreamHandle stream);
void soft_ce_backward_cuda(const float* logits, const float* target, const float* lse, const float* gloss,
                           float* g_logits, std::int64_t rows, int num_bins, float vmin, float vmax,
                           cuda::StreamHandle stream);

}  // namespace lucid::kernels
