// CUDA data movement for the engine's shape ops and arg-reductions (kernels/cuda/copy.cu).
//
// copy_rows_cuda: dst[r * dst_ld + c] = src[r * src_ld + c] for r < rows, c < width — a strided
//   2-D copy: concat and slice along the leading or last dim are one call per input.
// gather_rows_cuda: y[i, :] = x[index[i], :], x n x inner, y count x inner. `index` is a HOST
//   array (the engine's indices live on the host); the launcher stages it in device memory from
//   the caching allocator, stream-ordered, so the caller may reuse it when the call returns.
//   Indices are bounds-checked on the host first (lucid::ShapeError).
// scatter_add_rows_cuda: gx[index[i], :] += g[i, :] (the backward of gather_rows; gx must be
//   zeroed by the caller). Repeated indices add up through atomicAdd, so with repeats the sum
//   order, and the last bits, may vary from run to run.
// scatter_last_cuda: gx (rows x cols) = 0 except gx[r, arg[r]] = g[r] (max/min backward); arg
//   is the device int64 array reduce_last_cuda wrote.
// Outputs are written with `=` except scatter_add_rows (`+=`). All float pointers are device pointers.
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

void copy_rows_cuda(const float* src, std::int64_t src_ld, float* dst, std::int64_t dst_ld, std::int64_t rows,
                    std::int64_t width, cuda::StreamHandle stream);
void gather_rows_cuda(const float* x, std::int64_t n, std::int64_t inner, const std::int64_t* index,
                      std::int64_t count, float* y, cuda::StreamHandle stream);
void scatter_add_rows_cuda(const float* g, std::int64_t count, std::int64_t inner, const std::int64_t* index,
                           std::int64_t n, float* gx, cuda::StreamHandle stream);
void scatter_last_cuda(const float* g, const std::int64_t* arg, float* gx, std::int64_t rows,
                       std::int64_t cols, cuda::StreamHandle stream);

}  // namespace lucid::kernels
