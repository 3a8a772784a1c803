// The reward and value losses of TD-MPC2 and BMPC: two-hot soft cross-entropy over H steps of B
// rows at once, rho-weighted per step (facts/tdmpc2.md §1.5).
//
// logits (H * B, num_bins), target (H * B): row t * B + b is step t of sequence b. Its gradient
// weight is coef * rho^t / (B * H). Writes (=) ce and lse (H * B each, the per-row loss and
// log-sum-exp), gloss (H * B, the weights) and dlogits (H * B, num_bins). Returns
// mean_t rho^t mean_b ce, the loss the official code logs before its coefficient.
#pragma once

namespace lucid::agents {

float rho_soft_ce(const float* logits, const float* target, int horizon, int batch, int num_bins, float vmin,
                  float vmax, float rho, float coef, float* ce, float* lse, float* gloss, float* dlogits);

}  // namespace lucid::agents
