// CUDA row and column reductions (kernels/cuda/reduce.cu): the arguments and contract of
// lucid/kernels/reduce.h plus a stream. x is rows x cols; reduce_last writes out (rows) and, for
// kMax/kMin, the first arg-extremum into arg (rows, may be null); reduce_leading_sum writes out
// (cols). Outputs are written with `=`. All pointers are device pointers.
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"
#include "lucid/kernels/reduce.h"

namespace lucid::kernels {

void reduce_last_cuda(ReduceOp op, const float* x, float* out, std::int64_t* arg, std::int64_t rows,
                      std::int64_t cols, cuda::StreamHandle stream);
void reduce_leading_sum_cuda(const float* x, float* out, std::int64_t rows, std::int64_t cols,
                             cuda::StreamHandle stream);

}  // namespace lucid::kernels
