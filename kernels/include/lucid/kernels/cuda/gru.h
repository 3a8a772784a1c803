// CUDA batched GRU cell gates (kernels/cuda/gru.cu): the arguments and contract of
// lucid/kernels/gru.h plus a stream. The two GEMMs (x W_i, h W_h, or [h, x] W for the LN form)
// run in cuBLAS first; these kernels fuse everything after them in one launch per direction.
//   torch form (a): gi, gh are B x 3H [r | z | n]; h, h_new B x H.
//   ln form (c):    p is B x 3H [reset | cand | update] (already LayerNormed); h, h_new B x H.
// Forward writes h_new with `=`; backward writes g_gi, g_gh (g_p) and g_h with `=`, each may be
// null. All pointers are device pointers.
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

void gru_torch_forward_cuda(const float* gi, const float* gh, const float* h, float* h_new,
                            std::int64_t batch, std::int64_t hidden, cuda::StreamHandle stream);
void gru_torch_backward_cuda(const float* gi, const float* gh, const float* h, const float* g_new,
                             float* g_gi, float* g_gh, float* g_h, std::int64_t batch, std::int64_t hidden,
                             cuda::StreamHandle stream);
void gru_ln_forward_cuda(const float* p, const float* h, float* h_new, std::int64_t batch,
                         std::int64_t hidden, cuda::StreamHandle stream);
void gru_ln_backward_cuda(const float* p, const float* h, const float* g_new, float* g_p, float* g_h,
                          std::int64_t batch, std::int64_t hidden, cuda::StreamHandle stream);

}  // namespace lucid::kernels
