// rho_soft_ce (lucid/agents/rho_soft_ce.h): one kernel pass forward and one backward over all H steps.
#include "lucid/agents/rho_soft_ce.h"

#include "lucid/kernels/softmax.h"

namespace lucid::agents {

float rho_soft_ce(const float* logits, const float* target, int horizon, int batch, int num_bins, float vmin,
                  float vmax, float rho, float coef, float* ce, float* lse, float* gloss, float* dlogits) {
  const int H = horizon, B = batch, rows = H * B;
  kernels::soft_ce_forward_cpu(logits, target, ce, lse, rows, num_bins, vmin, vmax);
  float loss = 0.f, wt = 1.f;
  for (int t = 0; t < H; ++t, wt *= rho) {
    float s = 0.f;
    for (int b = 0; b < B; ++b) {
      s += ce[t * B + b];
      gloss[t * B + b] = coef * wt / (static_cast<float>(B) * H);
    }
    loss += wt * s / static_cast<float>(B);
  }
  kernels::soft_ce_backward_cpu(logits, target, lse, gloss, dlogits, rows, num_bins, vmin, vmax);
  return loss / static_cast<float>(H);
}

}  // namespace lucid::agents
