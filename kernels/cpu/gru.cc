// CPU GRU gate kernels (lucid/kernels/gru.h); the per-unit math is kernels/hd/gru.h.
#include "lucid/kernels/gru.h"

#include "hd/gru.h"
#include "lucid/kernels/threading.h"

namespace lucid::kernels {

void gru_torch_forward_cpu(const float* gi, const float* gh, const float* h, float* h_new, std::int64_t batch,
                           std::int64_t hidden) {
  const std::int64_t H = hidden;
#pragma omp parallel for if (batch * H >= kParallelGrain) schedule(static)
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* i = gi + b * 3 * H;
    const float* r = gh + b * 3 * H;
    for (std::int64_t k = 0; k < H; ++k)
      h_new[b * H + k] =
          hd::gru_torch_forward(i[k], i[H + k], i[2 * H + k], r[k], r[H + k], r[2 * H + k], h[b * H + k]);
  }
}

void gru_torch_backward_cpu(const float* gi, const float* gh, const float* h, const float* g_new, float* g_gi,
                            float* g_gh, float* g_h, std::int64_t batch, std::int64_t hidden) {
  const std::int64_t H = hidden;
#pragma omp parallel for if (batch * H >= kParallelGrain) schedule(static)
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* i = gi + b * 3 * H;
    const float* r = gh + b * 3 * H;
    for (std::int64_t k = 0; k < H; ++k) {
      const hd::GruTorchGrads d = hd::gru_torch_backward(i[k], i[H + k], i[2 * H + k], r[k], r[H + k],
                                                         r[2 * H + k], h[b * H + k], g_new[b * H + k]);
      if (g_gi) {
        float* o = g_gi + b * 3 * H;
        o[k] = d.d_r, o[H + k] = d.d_z, o[2 * H + k] = d.d_gi_n;
      }
      if (g_gh) {
        float* o = g_gh + b * 3 * H;
        o[k] = d.d_r, o[H + k] = d.d_z, o[2 * H + k] = d.d_gh_n;
      }
      if (g_h) g_h[b * H + k] = d.d_h;
    }
  }
}

void gru_ln_forward_cpu(const float* p, const float* h, float* h_new, std::int64_t batch,
                        std::int64_t hidden) {
  const std::int64_t H = hidden;
#pragma omp parallel for if (batch * H >= kParallelGrain) schedule(static)
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* q = p + b * 3 * H;
    for (std::int64_t k = 0; k < H; ++k)
      h_new[b * H + k] = hd::gru_ln_forward(q[k], q[H + k], q[2 * H + k], h[b * H + k]);
  }
}

void gru_ln_backward_cpu(const float* p, const float* h, const float* g_new, float* g_p, float* g_h,
                         std::int64_t batch, std::int64_t hidden) {
  const std::int64_t H = hidden;
#pragma omp parallel for if (batch * H >= kParallelGrain) schedule(static)
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* q = p + b * 3 * H;
    for (std::int64_t k = 0; k < H; ++k) {
      const hd::GruLnGrads d =
          hd::gru_ln_backward(q[k], q[H + k], q[2 * H + k], h[b * H + k], g_new[b * H + k]);
      if (g_p) {
        float* o = g_p + b * 3 * H;
        o[k] = d.d_reset, o[H + k] = d.d_cand, o[2 * H + k] = d.d_update;
      }
      if (g_h) g_h[b * H + k] = d.d_h;
    }
  }
}

}  // namespace lucid::kernels
