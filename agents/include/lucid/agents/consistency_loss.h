// The latent consistency loss of TD-MPC2 and BMPC for one rollout step, and the latent part of an
// input gradient (facts/tdmpc2.md §1.5).
//
// consistency_step: z, target (rows, L) predicted and encoded next latents; adds scale * (z -
// target) to dz (rows, L) — the gradient of scale / 2 * sum (z - target)^2 — and returns the sum of
// squares in double. Rows are split over the threads; each row's partial sum is formed alone and
// the partials are added in row order, so the result does not depend on the thread count.
// add_latent_grad: dz (rows, L) += the first L columns of dx (rows, width).
#pragma once

namespace lucid::agents {

double consistency_step(const float* z, const float* target, int rows, int L, float scale, float* dz,
                        double* row_partials);
void add_latent_grad(const float* dx, int L, int width, int rows, float* dz);

}  // namespace lucid::agents
