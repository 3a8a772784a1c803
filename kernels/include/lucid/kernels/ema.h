// Exponential moving average of a flat parameter set: target = lerp(target, source, tau).
//
// Shapes: target and source address n contiguous floats. Memory contract: target is updated in
// place, source is read only. Same formula as torch.Tensor.lerp_: target + tau * (source - target).
#pragma once

#include <cstddef>

namespace lucid::kernels {

void ema_lerp_cpu(float* target, const float* source, std::size_t n, float tau);

}  // namespace lucid::kernels

// ---- CUDA backend ----
// ema_lerp_cuda: the arguments above plus a cuda::StreamHandle, device pointers; kernels in
// kernels/cuda/optim.cu.
#include "lucid/kernels/cuda/optim.h"
