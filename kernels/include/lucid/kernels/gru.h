// Fused GRU gate kernels (the matmuls are done by the engine with GEMMs; see kernels/hd/gru.h for
// the per-unit math of both forms).
//
// torch form (a): gi, gh are B x 3H pre-activations [r | z | n] of x and h; h, h_new are B x H.
// ln form (c): p is B x 3H LayerNormed projections [reset | cand | update]; h, h_new are B x H.
// Forward writes h_new with `=`. Backward writes g_gi, g_gh (or g_p) and g_h with `=`; any of
// them may be null when not wanted.
// Threads: OpenMP over rows.
#pragma once

#include <cstdint>

namespace lucid::kernels {

void gru_torch_forward_cpu(const float* gi, const float* gh, const float* h, float* h_new, std::int64_t batch,
                           std::int64_t hidden);
void gru_torch_backward_cpu(const float* gi, const float* gh, const float* h, const float* g_new, float* g_gi,
                            float* g_gh, float* g_h, std::int64_t batch, std::int64_t hidden);

void gru_ln_forward_cpu(const float* p, const float* h, float* h_new, std::int64_t batch,
                        std::int64_t hidden);
void gru_ln_backward_cpu(const float* p, const float* h, const float* g_new, float* g_p, float* g_h,
                         std::int64_t batch, std::int64_t hidden);

}  // namespace lucid::kernels

// ---- CUDA backend ----
// gru_torch_*_cuda, gru_ln_*_cuda: the arguments above plus a cuda::StreamHandle, device pointers;
// kernels in kernels/cuda/gru.cu.
#include "lucid/kernels/cuda/gru.h"
