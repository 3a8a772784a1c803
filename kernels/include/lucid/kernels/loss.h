// Fused regression losses.
//
// mse: a, b are n floats; forward returns mean((a - b)^2) (accumulated in double); backward writes
// ga = g * 2 (a - b) / n and gb = -ga with `=` (either may be null). One pass each way, instead of
// the three (sub, square, mean) of the composition — the loss of every TD-MPC2 consistency term.
// Threads: OpenMP over elements above kParallelGrain.
#pragma once

#include <cstdint>

namespace lucid::kernels {

float mse_forward_cpu(const float* a, const float* b, std::int64_t n);
void mse_backward_cpu(const float* a, const float* b, float g, float* ga, float* gb, std::int64_t n);

}  // namespace lucid::kernels

// ---- CUDA backend ----
// mse_forward_cuda (the loss stays on the device), mse_backward_cuda (reads the upstream gradient
// on the device): kernels in kernels/cuda/loss.cu.
#include "lucid/kernels/cuda/loss.h"
