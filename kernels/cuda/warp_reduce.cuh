// Warp- and block-wide reductions used by the row kernels of kernels/cuda/.
//
// warp_sum<W>/warp_max<W> reduce over segments of W lanes (W a power of two <= 32) with an xor
// butterfly, so every lane of the segment ends with the result and no broadcast is needed.
// block_sum/block_max need blockDim.x a multiple of 32 and a 32-float shared scratch; they
// begin with a barrier so the scratch can be reused by back-to-back calls.
#pragma once

#include "lucid/kernels/cuda/runtime.h"

namespace lucid::kernels::cuda_detail {

constexpr unsigned kFullMask = 0xffffffffu;

template <int W = 32>
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = W / 2; o > 0; o /= 2) v += __shfl_xor_sync(kFullMask, v, o, W);
  return v;
}

template <int W = 32>
__device__ __forceinline__ float warp_max(float v) {
  for (int o = W / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o, W));
  return v;
}

__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  return warp_sum(lane < warps ? scratch[lane] : 0.f);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  return warp_max(lane < warps ? scratch[lane] : -INFINITY);
}

}  // namespace lucid::kernels::cuda_detail
