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

}  // namespace lucid::agents
