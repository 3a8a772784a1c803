// MPPI's per-row elementwise steps on the GPU (kernels/cuda/mppi.cu), so a planning iteration
// stays on the device between the model's launches.
//
// mppi_sample_actions_cuda: the Gaussian action sequences of one iteration,
//   actions[t * step_rows + b * S + s][j] = clamp(mean[b][t][j] + std[b][t][j] * noise[k], -1, 1)
// for s in [P, S), with k running over (t, b, s - P, j) in that order — the order in which
// Mppi::plan consumes its bulk normal draw on the CPU, so the same Philox numbers give the same
// actions. actions is (H, step_rows, A) with step_rows >= B * S (a buffer sized for a larger
// batch); mean, std (B, H, A); noise H * B * (S - P) * A. Rows s < P (the policy-prior
// sequences) are not touched.
// mppi_accumulate_cuda: value[i] = value[i] + scale * x[i] (kAdd), = scale * x[i] (kAssign), or
// nan_to_num(value[i] + scale * x[i]) (kAddNanToNum: NaN -> 0, +-inf -> +-FLT_MAX; the terminal
// value, as torch.nan_to_num). Outputs are written in place / with `=`; device pointers.
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

// mppi_elite_refit_cuda: per observation b (one block each), the K best of its S values
//   value[b * S + s] (ties to the lower index, as Mppi's partial_sort), their weights
//   score = softmax(temperature * v) over the elites (exp(temperature (v - v_max)) / sum), and
//   the weighted refit of mean and std (B, H, A) over the elites' actions (actions as for
//   mppi_sample_actions), std clamped to [min_std, max_std] — elite_refit's arithmetic in its
//   order (the weighted sums run serially over the elites). Also writes elite (B, K; indices as
//   floats, exact below 2^24), score (B, K) and elite_mean (B: the plain mean of the elite values,
//   the planner's trace). Outputs written with `=`; device pointers.
enum class MppiAccumulate : int { kAssign, kAdd, kAddNanToNum };

void mppi_elite_refit_cuda(const float* value, const float* actions, float* mean, float* std_dev,
                           float* elite, float* score, float* elite_mean, int batch, int samples,
                           int num_elites, int horizon, int action_dim, std::int64_t step_rows,
                           float temperature, float min_std, float max_std, cuda::StreamHandle stream);

void mppi_sample_actions_cuda(const float* mean, const float* std_dev, const float* noise, float* actions,
                              int batch, int samples, int pi_trajs, int horizon, int action_dim,
                              std::int64_t step_rows, cuda::StreamHandle stream);
void mppi_accumulate_cuda(float* value, const float* x, std::int64_t n, float scale, MppiAccumulate mode,
                          cuda::StreamHandle stream);

}  // namespace lucid::kernels
