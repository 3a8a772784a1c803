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
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

void policy_squash_cuda(const float* raw, const float* bias, const float* eps, float* mean, float* log_std,
                        float* action, std::int64_t rows, int action_dim, float log_std_min,
                        float log_std_max, cuda::StreamHandle stream);

}  // namespace lucid::kernels
