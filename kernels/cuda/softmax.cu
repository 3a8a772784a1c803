// Softmax / log-softmax, SimNorm, two-hot and the fused soft cross-entropy on the GPU.
// Contract and shapes: lucid/kernels/cuda/softmax.h (CPU twin: lucid/kernels/softmax.h).
//
// Launch shape: a row is owned by a segment of W lanes, W the smallest power of two >= cols
// (capped at 32), so SimNorm's 8-wide groups put 4 rows in a warp and a 101-bin row takes a full
// warp looping 4 times. Reductions are xor butterflies inside the segment; no shared memory and
// no block barrier. Lanes of a segment past the last row stay in the loop as idle participants
// (their shuffles must still be reached: a shuffle names every lane of the warp in its mask).
#include "hd/symlog.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/runtime.h"
#include "lucid/kernels/cuda/softmax.h"
#include "warp_reduce.cuh"

namespace lucid::kernels {
namespace {

using cuda_detail::warp_max;
using cuda_detail::warp_sum;

// (row, lane within its segment, whether the row exists) of the calling thread.
template <int W>
struct Seg {
  std::int64_t row;
  int lane;
  bool valid;
};
template <int W>
__device__ __forceinline__ Seg<W> segment(std::int64_t rows) {
  const std::int64_t t = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  return {t / W, static_cast<int>(t % W), t / W < rows};
}

// log-sum-exp of a row of `cols` values, in every lane of the segment.
template <int W>
__device__ __forceinline__ float segment_lse(const float* xr, std::int64_t cols, int lane, bool valid) {
  float mx = -INFINITY;
  if (valid)
    for (std::int64_t c = lane; c < cols; c += W) mx = fmaxf(mx, xr[c]);
  mx = warp_max<W>(mx);
  float s = 0.f;
  if (valid)
    for (std::int64_t c = lane; c < cols; c += W) s += expf(xr[c] - mx);
  s = warp_sum<W>(s);
  return mx + logf(s);
}

template <int W>
__global__ void softmax_forward_kernel(const float* x, float* y, std::int64_t rows, std::int64_t cols,
                                       bool log_softmax) {
  const Seg<W> s = segment<W>(rows);
  const float* xr = x + (s.valid ? s.row * cols : 0);
  const float lse = segment_lse<W>(xr, cols, s.lane, s.valid);
  if (!s.valid) return;
  float* yr = y + s.row * cols;
  for (std::int64_t c = s.lane; c < cols; c += W) yr[c] = log_softmax ? xr[c] - lse : expf(xr[c] - lse);
}

template <int W>
__global__ void softmax_backward_kernel(const float* y, const float* gy, float* gx, std::int64_t rows,
                                        std::int64_t cols, bool log_softmax) {
  const Seg<W> s = segment<W>(rows);
  const std::int64_t base = s.valid ? s.row * cols : 0;
  float acc = 0.f;  // sum(gy) for log-softmax, sum(gy * y) for softmax
  if (s.valid)
    for (std::int64_t c = s.lane; c < cols; c += W)
      acc += log_softmax ? gy[base + c] : gy[base + c] * y[base + c];
  acc = warp_sum<W>(acc);
  if (!s.valid) return;
  for (std::int64_t c = s.lane; c < cols; c += W) {
    const std::int64_t i = base + c;
    gx[i] = log_softmax ? gy[i] - expf(y[i]) * acc : y[i] * (gy[i] - acc);
  }
}

template <int W>
__global__ void soft_ce_forward_kernel(const float* logits, const float* target, float* loss, float* lse,
                                       std::int64_t rows, int num_bins, float vmin, float vmax) {
  const Seg<W> s = segment<W>(rows);
  const float* xr = logits + (s.valid ? s.row * num_bins : 0);
  const float l = segment_lse<W>(xr, num_bins, s.lane, s.valid);
  if (!s.valid || s.lane != 0) return;
  const hd::TwoHotBin b = hd::two_hot_bin(target[s.row], num_bins, vmin, vmax);
  loss[s.row] = l - ((1.f - b.w_hi) * xr[b.lo] + b.w_hi * xr[(b.lo + 1) % num_bins]);
  lse[s.row] = l;
}

// Elementwise: one thread per (row, bin).
__global__ void soft_ce_backward_kernel(const float* logits, const float* target, const float* lse,
                                        const float* gloss, float* g_logits, std::int64_t rows, int num_bins,
                                        float vmin, float vmax) {
  const std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= rows * num_bins) return;
  const std::int64_t r = i / num_bins;
  const int k = static_cast<int>(i % num_bins);
  const hd::TwoHotBin b = hd::two_hot_bin(target[r], num_bins, vmin, vmax);
  const float w = (k == b.lo ? 1.f - b.w_hi : 0.f) + (k == (b.lo + 1) % num_bins ? b.w_hi : 0.f);
  g_logits[i] = gloss[r] * (expf(logits[i] - lse[r]) - w);
}

__global__ void two_hot_kernel(const float* target, float* out, std::int64_t rows, int num_bins, float vmin,
                               float vmax) {
  const std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= rows * num_bins) return;
  const std::int64_t r = i / num_bins;
  const int k = static_cast<int>(i % num_bins);
  const hd::TwoHotBin b = hd::two_hot_bin(target[r], num_bins, vmin, vmax);
  out[i] = (k == b.lo ? 1.f - b.w_hi : 0.f) + (k == (b.lo + 1) % num_bins ? b.w_hi : 0.f);
}

// Calls f.template operator()<W>() with the segment width for `cols`.
template <typename F>
void with_width(std::int64_t cols, F&& f) {
  if (cols <= 1) return f.template operator()<1>();
  if (cols <= 2) return f.template operator()<2>();
  if (cols <= 4) return f.template operator()<4>();
  if (cols <= 8) return f.template operator()<8>();
  if (cols <= 16) return f.template operator()<16>();
  return f.template operator()<32>();
}

unsigned segment_blocks(std::int64_t rows, int width, int threads) {
  return cuda::blocks_for(static_cast<std::size_t>(rows) * static_cast<std::size_t>(width),
                          static_cast<std::size_t>(threads));
}

constexpr int kElementwiseThreads = 256;

}  // namespace

void softmax_forward_cuda(const float* x, float* y, std::int64_t rows, std::int64_t cols, bool log_softmax,
                          cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(rows >= 0 && cols >= 1) << "softmax: rows=" << rows << " cols=" << cols;
  if (rows == 0) return;
  LUCID_NVTX_RANGE("kernels/softmax_forward");
  const int threads = cuda::block_threads(256);
  with_width(cols, [&]<int W>() {
    auto* k = &softmax_forward_kernel<W>;
    LUCID_LAUNCH(k, segment_blocks(rows, W, threads), threads, 0, stream, x, y, rows, cols, log_softmax);
  });
}

void softmax_backward_cuda(const float* y, const float* gy, float* gx, std::int64_t rows, std::int64_t cols,
                           bool log_softmax, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(rows >= 0 && cols >= 1) << "softmax: rows=" << rows << " cols=" << cols;
  if (rows == 0) return;
  LUCID_NVTX_RANGE("kernels/softmax_backward");
  const int threads = cuda::block_threads(256);
  with_width(cols, [&]<int W>() {
    auto* k = &softmax_backward_kernel<W>;
    LUCID_LAUNCH(k, segment_blocks(rows, W, threads), threads, 0, stream, y, gy, gx, rows, cols, log_softmax);
  });
}

void simnorm_forward_cuda(const float* x, float* y, std::int64_t rows, std::int64_t dim, std::int64_t group,
                          cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(group >= 1 && dim % group == 0)
      << "simnorm: dim " << dim << " is not a multiple of " << group;
  softmax_forward_cuda(x, y, rows * (dim / group), group, false, stream);
}

void simnorm_backward_cuda(const float* y, const float* gy, float* gx, std::int64_t rows, std::int64_t dim,
                           std::int64_t group, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(group >= 1 && dim % group == 0)
      << "simnorm: dim " << dim << " is not a multiple of " << group;
  softmax_backward_cuda(y, gy, gx, rows * (dim / group), group, false, stream);
}

void two_hot_cuda(const float* target, float* out, std::int64_t rows, int num_bins, float vmin, float vmax,
                  cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(rows >= 0 && num_bins >= 2) << "two_hot: rows=" << rows << " bins=" << num_bins;
  if (rows == 0) return;
  const int threads = cuda::block_threads(kElementwiseThreads);
  LUCID_LAUNCH(two_hot_kernel, cuda::blocks_for(static_cast<std::size_t>(rows * num_bins), threads), threads,
               0, stream, target, out, rows, num_bins, vmin, vmax);
}

void soft_ce_forward_cuda(const float* logits, const float* target, float* loss, float* lse,
                          std::int64_t rows, int num_bins, float vmin, float vmax,
                          cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(rows >= 0 && num_bins >= 2) << "soft_ce: rows=" << rows << " bins=" << num_bins;
  if (rows == 0) return;
  LUCID_NVTX_RANGE("kernels/soft_ce_forward");
  const int threads = cuda::block_threads(256);
  with_width(num_bins, [&]<int W>() {
    auto* k = &soft_ce_forward_kernel<W>;
    LUCID_LAUNCH(k, segment_blocks(rows, W, threads), threads, 0, stream, logits, target, loss, lse, rows,
                 num_bins, vmin, vmax);
  });
}

void soft_ce_backward_cuda(const float* logits, const float* target, const float* lse, const float* gloss,
                           float* g_logits, std::int64_t rows, int num_bins, float vmin, float vmax,
                           cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(rows >= 0 && num_bins >= 2) << "soft_ce: rows=" << rows << " bins=" << num_bins;
  if (rows == 0) return;
  LUCID_NVTX_RANGE("kernels/soft_ce_backward");
  const int threads = cuda::block_threads(kElementwiseThreads);
  LUCID_LAUNCH(soft_ce_backward_kernel, cuda::blocks_for(static_cast<std::size_t>(rows * num_bins), threads),
               threads, 0, stream, logits, target, lse, gloss, g_logits, rows, num_bins, vmin, vmax);
}

}  // namespace lucid::kernels
