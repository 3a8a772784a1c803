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

enum class MppiAccumulate : int { kAssign, kAdd, kAddNanToNum };

void mppi_sample_actions_cuda(const float* mean, const float* std_dev, const float* noise, float* actions,
                              int batch, int samples, int pi_trajs, int horizon, int action_dim,
                              std::int64_t step_rows, cuda::StreamHandle stream);
void mppi_accumulate_cuda(float* value, const float* x, std::int64_t n, float scale, MppiAccumulate mode,
                          cuda::StreamHandle stream);

}  // namespace lucid::kernels
