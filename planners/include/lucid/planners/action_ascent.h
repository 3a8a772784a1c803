// Pieces shared by the gradient planners (Dream-MPC, Grad-MPC, Policy+Grad-MPC).
//
// Candidate layout everywhere: actions and gradients are (H, B * N, A) row-major, observation b
// owning rows [b * N, (b + 1) * N) of every step, i.e. the TD-MPC2 (H, N, A) layout batched over
// observations. All functions work in place on caller-owned buffers and allocate nothing.
#pragma once

#include "lucid/engine/rng.h"

namespace lucid::planners {

// torch.nn.utils.clip_grad_norm_ over one observation's whole (H, N, A) gradient: scale by
// max_norm / (norm + 1e-6) when that is below 1. Non-finite entries are zeroed first.
void clip_grad_norm_per_obs(float* grad, int H, int B, int N, int A, float max_norm);

// actions += step * grad, elementwise over H * B * N * A values.
void ascend(float* actions, const float* grad, long long n, float step);

// Index of the best candidate of observation b, NaN read as 0 as the official nan_to_num does
// (lowest index on ties).
int best_candidate(const float* value, int b, int N);

// TD-MPC2's Q(.., 'avg'): two distinct heads of n uniformly at random (one if n == 1). Writes
// heads[0..count) and returns count.
int pick_two_heads(int n, Rng& rng, int* heads);

}  // namespace lucid::planners
