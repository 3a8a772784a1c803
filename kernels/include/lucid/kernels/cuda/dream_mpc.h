// Dream-MPC's planner steps between its model launches, on the GPU (kernels/cuda/dream_mpc.cu),
// so a whole plan call stays on the device and can be one CUDA graph (planners/dream_mpc).
//
// Candidate layout: (H, B * N, A) row-major, observation b owning rows [b * N, (b + 1) * N) of
// every step (lucid/planners/action_ascent.h).
//
// dream_warm_start_cuda: the amortised start, Eq. (3): actions[t] = rho * stored[min(t + 1, H - 1)]
//   + (1 - rho) * prior[t] (the previous call's candidates shifted one step, the last duplicated),
//   or actions = prior when !warm (the first call of an episode). init (may be null) receives a
//   copy of the result. Same float order as DreamMpc::plan.
// dream_clip_ascend_cuda: per observation b (one block each), clip_grad_norm_per_obs — non-finite
//   entries of its (H, N, A) gradient zeroed, the block scaled by max_norm / (norm + 1e-6) when
//   that is below 1 (norm and scale in double) — then actions += step * grad. The norm's partial
//   sums are reduced as a tree, so it can differ from the CPU's serial sum in the last bits of a
//   double.
// dream_select_cuda: out[b] = clamp(actions[0][b * N + k_b], -1, 1) with k_b the best candidate of
//   value[b * N, (b + 1) * N) (NaN read as 0, the lowest index on ties: best_candidate), and
//   stored = clamp(actions, -1, 1) over all H * B * N * A entries.
// Outputs are written with `=` except actions (in place); all pointers are device pointers.
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

void dream_warm_start_cuda(const float* prior, const float* stored, float* actions, float* init, int horizon,
                           std::int64_t rows, int action_dim, float rho, bool warm,
                           cuda::StreamHandle stream);
void dream_clip_ascend_cuda(float* grad, float* actions, int horizon, int batch, int candidates,
                            int action_dim, float max_norm, float step, cuda::StreamHandle stream);
void dream_select_cuda(const float* value, const float* actions, float* out, float* stored, int horizon,
                       int batch, int candidates, int action_dim, cuda::StreamHandle stream);

}  // namespace lucid::kernels
