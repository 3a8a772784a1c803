// Row reductions (sum / max / min with arg) and the leading-dim column sum on the GPU.
// Contract and shapes: lucid/kernels/cuda/reduce.h (CPU twin: lucid/kernels/reduce.h).
//
// reduce_last: one warp per row; each lane scans a strided slice keeping (value, first index),
// then an xor butterfly merges the lanes' candidates, preferring the lower index on ties, so the
// arg-extremum is the first one exactly as the CPU loop finds it.
// reduce_leading_sum: blocks of 32 columns x 8 row-slices; each slice sums every 8th row, and the
// 8 partial sums are added in a fixed order in shared memory, so results are deterministic.
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/reduce.h"
#include "lucid/kernels/cuda/runtime.h"
#include "warp_reduce.cuh"

namespace lucid::kernels {
namespace {

using cuda_detail::kFullMask;
using cuda_detail::warp_sum;

// True when candidate (v, i) should replace (best, bi): strictly better, or equal and earlier.
__device__ __forceinline__ bool better(ReduceOp op, float v, std::int64_t i, float best, std::int64_t bi) {
  if (op == ReduceOp::kMax) return v > best || (v == best && i < bi);
  return v < best || (v == best && i < bi);
}

__global__ void reduce_last_kernel(ReduceOp op, const float* x, float* out, std::int64_t* arg,
                                   std::int64_t rows, std::int64_t cols) {
  const std::int64_t row = std::int64_t{blockIdx.x} * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;  // the whole warp leaves together
  const int lane = static_cast<int>(threadIdx.x % 32);
  const float* xr = x + row * cols;
  if (op == ReduceOp::kSum) {
    float s = 0.f;
    for (std::int64_t c = lane; c < cols; c += 32) s += xr[c];
    s = warp_sum(s);
    if (lane == 0) out[row] = s;
    return;
  }
  float best = 0.f;
  std::int64_t bi = -1;  // -1: this lane saw nothing (cols < 32)
  for (std::int64_t c = lane; c < cols; c += 32)
    if (bi < 0 || better(op, xr[c], c, best, bi)) best = xr[c], bi = c;
  for (int o = 16; o > 0; o /= 2) {
    const float ov = __shfl_xor_sync(kFullMask, best, o);
    const std::int64_t oi = __shfl_xor_sync(kFullMask, bi, o);
    if (oi >= 0 && (bi < 0 || better(op, ov, oi, best, bi))) best = ov, bi = oi;
  }
  if (lane == 0) {
    out[row] = best;
    if (arg) arg[row] = bi;
  }
}

constexpr int kColTile = 32, kRowSlices = 8;

__global__ void reduce_leading_sum_kernel(const float* x, float* out, std::int64_t rows, std::int64_t cols) {
  __shared__ float part[kRowSlices][kColTile + 1];
  const std::int64_t c = std::int64_t{blockIdx.x} * kColTile + threadIdx.x;
  float s = 0.f;
  if (c < cols)
    for (std::int64_t r = threadIdx.y; r < rows; r += kRowSlices) s += x[r * cols + c];
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float t = 0.f;
    for (int k = 0; k < kRowSlices; ++k) t += part[k][threadIdx.x];
    out[c] = t;
  }
}

}  // namespace

void reduce_last_cuda(ReduceOp op, const float* x, float* out, std::int64_t* arg, std::int64_t rows,
                      std::int64_t cols, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(rows >= 0 && cols >= 1) << "reduce_last: rows=" << rows << " cols=" << cols;
  if (rows == 0) return;
  LUCID_NVTX_RANGE("kernels/reduce_last");
  const int threads = cuda::block_threads(256);
  LUCID_LAUNCH(reduce_last_kernel, cuda::blocks_for(static_cast<std::size_t>(rows), threads / 32), threads, 0,
               stream, op, x, out, arg, rows, cols);
}

void reduce_leading_sum_cuda(const float* x, float* out, std::int64_t rows, std::int64_t cols,
                             cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(rows >= 0 && cols >= 0) << "reduce_leading_sum: rows=" << rows << " cols=" << cols;
  if (cols == 0) return;
  LUCID_NVTX_RANGE("kernels/reduce_leading_sum");
  LUCID_LAUNCH(reduce_leading_sum_kernel, cuda::blocks_for(static_cast<std::size_t>(cols), kColTile),
               dim3(kColTile, kRowSlices), 0, stream, x, out, rows, cols);
}

}  // namespace lucid::kernels
