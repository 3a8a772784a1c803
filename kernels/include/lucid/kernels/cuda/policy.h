// TD-MPC2's policy-prior epilogue on the GPU (kernels/cuda/policy.cu): the bias of pi's output
// Linear, the log_std squash and the tanh-squashed action, in one launch.
//
// raw: rows x 2A, pi's last GEMM output WITHOUT its bias (mean columns [0, A), log_std columns
// [A, 2A)); bias: 2A. With o = raw + bias:
//   mean    = o[:, :A]
//   log_std = log_std_min + (log_std_max - log_std_min) (tanh(o[:, A:]) + 1) / 2
//   action  = tanh(mean + eps * exp(log_std))   (eps rows x A; null: tanh(mean))
// mean, log_std, action (rows x A each) may each be null; the others are written with `=`.
// Float ops in the order of Tdmpc2Model::pi_action_raw / policy_into, so values match the CPU to
// the libm/intrinsic difference of tanh and exp. All pointers are device pointers.
//
// Backward (gradient planners: dJ/dz_H through pi(z_H)): given g_action = dJ/d action, writes
// g_raw (rows x 2A, `=`), the gradient w.r.t. o = raw + bias:
//   g_raw[:, j]     = g_action (1 - action^2)                                     (d / d mean)
//   g_raw[:, A + j] = that * eps exp(log_std) (log_std_max - log_std_min) / 2 (1 - tanh(o)^2)
// with eps null (the mean action) the log_std half is 0. action_mask (A, may be null): a 0 entry
// is a padded action dim of a multitask model, whose action is a constant; both halves get 0.
// Same float order as Tdmpc2ActionGradient's CPU backward.
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

void policy_squash_cuda(const float* raw, const float* bias, const float* eps, float* mean, float* log_std,
                        float* action, std::int64_t rows, int action_dim, float log_std_min,
                        float log_std_max, cuda::StreamHandle stream);
void policy_squash_backward_cuda(const float* raw, const float* bias, const float* eps, const float* action,
                                 const float* g_action, const float* action_mask, float* g_raw,
                                 std::int64_t rows, int action_dim, float log_std_min, float log_std_max,
                                 cuda::StreamHandle stream);

}  // namespace lucid::kernels
