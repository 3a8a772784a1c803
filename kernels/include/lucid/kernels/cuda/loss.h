// CUDA fused mean-squared error (kernels/cuda/loss.cu): lucid/kernels/loss.h on the device.
//
// mse_forward_cuda: *out (one device float) = mean((a - b)^2) over n, accumulated in double,
//   written with `=` — the result stays on the device, so a loss never waits for the host.
// mse_backward_cuda: ga = g * 2 (a - b) / n and gb = -ga, written with `=` (either may be null);
//   g is read from the device (*g_dev, the upstream gradient of the scalar loss).
// All pointers are device pointers.
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

void mse_forward_cuda(const float* a, const float* b, std::int64_t n, float* out, cuda::StreamHandle stream);
void mse_backward_cuda(const float* a, const float* b, const float* g_dev, float* ga, float* gb,
                       std::int64_t n, cuda::StreamHandle stream);

}  // namespace lucid::kernels
