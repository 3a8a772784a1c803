// Reductions along the last dim and the leading dim, and their broadcasting backward.
//
// Shapes: x is rows x cols. reduce_last: out (rows); reduce_leading: out (cols).
// For kMax/kMin, `arg` (rows, int64) receives the first arg-extremum (saved for backward).
// Memory contract: outputs written with `=`.
#pragma once

#include <cstdint>

namespace lucid::kernels {

enum class ReduceOp : int { kSum, kMax, kMin };

void reduce_last_cpu(ReduceOp op, const float* x, float* out, std::int64_t* arg, std::int64_t rows,
                     std::int64_t cols);
void reduce_leading_sum_cpu(const float* x, float* out, std::int64_t rows, std::int64_t cols);

}  // namespace lucid::kernels

// ---- CUDA backend ----
// reduce_last_cuda, reduce_leading_sum_cuda: the arguments above plus a cuda::StreamHandle, device
// pointers; kernels in kernels/cuda/reduce.cu.
#include "lucid/kernels/cuda/reduce.h"
