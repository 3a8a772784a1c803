// rho_soft_ce (lucid/agents/rho_soft_ce.h): one kernel pass forward and one backward over all H steps;
// head_loss_job: a head's forward, that loss and its backward.
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

void head_loss_job(const models::tdmpc2::Mlp& head, const float* params, float* grads,
                   models::tdmpc2::MlpCache& cache, const float* mask, const float* target, float coef,
                   const RhoSoftCeShape& shape, HeadScratch& s) {
  models::tdmpc2::mlp_forward(head, params, cache, shape.horizon * shape.batch, mask);
  s.loss =
      rho_soft_ce(cache.output(), target, shape.horizon, shape.batch, shape.num_bins, shape.vmin, shape.vmax,
                  shape.rho, coef, s.ce.data(), s.lse.data(), s.gloss.data(), s.dlogits.data());
  models::tdmpc2::mlp_backward(head, params, grads, cache, s.dlogits.data(), s.dx.data());
}

}  // namespace lucid::agents
