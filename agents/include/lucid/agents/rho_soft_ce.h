// The reward and value losses of TD-MPC2 and BMPC: two-hot soft cross-entropy over H steps of B
// rows at once, rho-weighted per step (facts/tdmpc2.md §1.5).
//
// logits (H * B, num_bins), target (H * B): row t * B + b is step t of sequence b. Its gradient
// weight is coef * rho^t / (B * H). Writes (=) ce and lse (H * B each, the per-row loss and
// log-sum-exp), gloss (H * B, the weights) and dlogits (H * B, num_bins). Returns
// mean_t rho^t mean_b ce, the loss the official code logs before its coefficient.
#pragma once

#include <cstddef>
#include <vector>

#include "lucid/models/tdmpc2/mlp.h"

namespace lucid::agents {

// What one head's job writes while an update runs its reward and value heads side by side
// (kernels::parallel_jobs): rho_soft_ce's per-row outputs, the head's output and input gradients
// and its loss. Sized for up to `rows` rows (ce, dlogits, dx) of which `loss_rows` (lse, gloss)
// take a loss, `in_width` input columns.
struct HeadScratch {
  std::vector<float> ce, lse, gloss, dlogits, dx;
  float loss = 0.f;
  void reserve(int rows, int loss_rows, int num_bins, int in_width) {
    const auto r = static_cast<std::size_t>(rows);
    ce.resize(r);
    lse.resize(static_cast<std::size_t>(loss_rows));
    gloss.resize(static_cast<std::size_t>(loss_rows));
    dlogits.resize(r * static_cast<std::size_t>(num_bins));
    dx.resize(r * static_cast<std::size_t>(in_width));
  }
};

float rho_soft_ce(const float* logits, const float* target, int horizon, int batch, int num_bins, float vmin,
                  float vmax, float rho, float coef, float* ce, float* lse, float* gloss, float* dlogits);

// The shape of an update's rho_soft_ce: H steps of B rows over num_bins bins in [vmin, vmax].
struct RhoSoftCeShape {
  int horizon = 0, batch = 0, num_bins = 0;
  float vmin = 0.f, vmax = 0.f, rho = 0.f;
};

// One reward or value head's share of an update, the job the TD-MPC2 and BMPC agents run per head:
// the forward of the cache's H * B rows (input already written; mask: the head's dropout mask, or
// nullptr), rho_soft_ce against `target` with weight `coef`, and the backward into the head's
// gradient block `grads` (+=) and s.dx (=). The loss goes to s.loss.
void head_loss_job(const models::tdmpc2::Mlp& head, const float* params, float* grads,
                   models::tdmpc2::MlpCache& cache, const float* mask, const float* target, float coef,
                   const RhoSoftCeShape& shape, HeadScratch& s);

}  // namespace lucid::agents
