// CUDA optimizer kernels on flat parameter arenas (kernels/cuda/optim.cu): Adam, EMA and the two
// halves of global grad-norm clipping. Contracts follow lucid/kernels/adam.h and ema.h.
//
// adam_step_cuda / ema_lerp_cuda / scale_cuda: the CPU arguments plus a stream.
// adam_arena_step_cuda: the whole arena in ONE launch — every parameter group (offset, size,
//   lr) of AdamGroups is updated by the same grid; elements outside every group are untouched.
// sumsq_cuda: *out (one device double) = sum of squares, written with `=` (memset + one launch).
// clip_by_norm_cuda: reads *sumsq on the device, so clipping never waits for the host:
//   norm = sqrt(*sumsq); if norm is finite and max_norm / (norm + 1e-6) < 1, x *= that coefficient
//   (torch.nn.utils.clip_grad_norm_); *norm_out (device, may be null) receives norm.
// Memory contract: params, exp_avg, exp_avg_sq, target and x are updated in place; grads and
// source are read only. All pointers are device pointers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

void adam_step_cuda(float* params, const float* grads, float* exp_avg, float* exp_avg_sq, std::size_t n,
                    float lr, float beta1, float beta2, float eps, float bias_c1, float bias_c2,
                    cuda::StreamHandle stream);

// Parameter groups passed by value (they travel in the kernel's parameter space, no copy).
struct AdamGroups {
  static constexpr int kMax = 16;
  int count = 0;
  std::uint64_t offset[kMax] = {};
  std::uint64_t size[kMax] = {};
  float lr[kMax] = {};
};

void adam_arena_step_cuda(float* params, const float* grads, float* exp_avg, float* exp_avg_sq,
                          const AdamGroups& groups, float beta1, float beta2, float eps, float bias_c1,
                          float bias_c2, cuda::StreamHandle stream);

// The same step for CUDA-graph capture: the step count lives on the device (*step, already
// incremented for this step — step_increment_cuda does that), and the bias corrections
// 1 - beta^t are computed from it in double on the device, as the host computes them for
// adam_step_cpu. A captured update graph replayed N times then takes N correct Adam steps;
// with host-computed corrections every replay would repeat the capture step's values.
// gate (device, may be null): when *gate is not finite both calls do nothing — the gradient norm
// of the step, so a captured update skips Adam on a non-finite norm as the CPU agent does.
void adam_arena_step_device_cuda(float* params, const float* grads, float* exp_avg, float* exp_avg_sq,
                                 const AdamGroups& groups, float beta1, float beta2, float eps,
                                 const std::int64_t* step, const float* gate, cuda::StreamHandle stream);
// ++*step on the device (unless the gate is non-finite).
void step_increment_cuda(std::int64_t* step, const float* gate, cuda::StreamHandle stream);

void ema_lerp_cuda(float* target, const float* source, std::size_t n, float tau, cuda::StreamHandle stream);

void sumsq_cuda(const float* x, std::size_t n, double* out, cuda::StreamHandle stream);
void scale_cuda(float* x, std::size_t n, float s, cuda::StreamHandle stream);
void clip_by_norm_cuda(float* x, std::size_t n, const double* sumsq, float max_norm, float* norm_out,
                       cuda::StreamHandle stream);

}  // namespace lucid::kernels
