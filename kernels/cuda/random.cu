// Philox uniform/normal draws and dropout on the GPU; numbers identical to lucid::Rng's.
// Contract and layout: lucid/kernels/cuda/random.h.
//
// Launch shape: one thread per Philox block (4 outputs), grid-stride, so each 128-bit draw is
// computed once and written as up to 4 consecutive floats; the ragged tail (n % 4) is handled by
// the thread that owns the last block.
#include "hd/philox.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/random.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid::kernels {
namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxBlocks = 4096;

unsigned grid_for(std::uint64_t blocks, int threads) {
  const unsigned g = cuda::blocks_for(blocks, static_cast<std::size_t>(threads));
  return g < kMaxBlocks ? g : kMaxBlocks;
}

template <bool kNormal>
__global__ void philox_kernel(float* out, std::size_t n, std::uint64_t seed, std::uint64_t stream_id,
                              std::uint64_t offset, const std::uint64_t* offset_at) {
  const std::uint64_t blocks = philox_blocks(n);
  if (offset_at) offset = *offset_at;  // read at run time: a CUDA graph replays with new offsets
  for (std::uint64_t b = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; b < blocks;
       b += std::uint64_t{gridDim.x} * blockDim.x) {
    const hd::Philox4x32 r = hd::philox_block(seed, stream_id, offset + b);
    float v[4];
    if (kNormal) {
      hd::philox_box_muller(r.v[0], r.v[1], &v[0], &v[1]);
      hd::philox_box_muller(r.v[2], r.v[3], &v[2], &v[3]);
    } else {
      for (int j = 0; j < 4; ++j) v[j] = hd::philox_uniform(r.v[j]);
    }
    for (std::uint64_t j = 0; j < 4 && 4 * b + j < n; ++j) out[4 * b + j] = v[j];
  }
}

__global__ void dropout_forward_kernel(const float* x, float* y, std::uint8_t* mask, std::size_t n, float p,
                                       float scale, std::uint64_t seed, std::uint64_t stream_id,
                                       std::uint64_t offset) {
  const std::uint64_t blocks = philox_blocks(n);
  for (std::uint64_t b = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; b < blocks;
       b += std::uint64_t{gridDim.x} * blockDim.x) {
    const hd::Philox4x32 r = hd::philox_block(seed, stream_id, offset + b);
    for (std::uint64_t j = 0; j < 4 && 4 * b + j < n; ++j) {
      const std::uint64_t i = 4 * b + j;
      const bool keep = hd::philox_uniform(r.v[j]) >= p;
      y[i] = keep ? x[i] * scale : 0.f;
      if (mask) mask[i] = keep ? 1 : 0;
    }
  }
}

__global__ void dropout_backward_kernel(const float* gy, const std::uint8_t* mask, float* gx, std::size_t n,
                                        float p, float scale, std::uint64_t seed, std::uint64_t stream_id,
                                        std::uint64_t offset) {
  const std::uint64_t blocks = philox_blocks(n);
  for (std::uint64_t b = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; b < blocks;
       b += std::uint64_t{gridDim.x} * blockDim.x) {
    hd::Philox4x32 r{};
    if (!mask) r = hd::philox_block(seed, stream_id, offset + b);
    for (std::uint64_t j = 0; j < 4 && 4 * b + j < n; ++j) {
      const std::uint64_t i = 4 * b + j;
      const bool keep = mask ? mask[i] != 0 : hd::philox_uniform(r.v[j]) >= p;
      gx[i] = keep ? gy[i] * scale : 0.f;
    }
  }
}

void check_p(float p) {
  LUCID_CHECK(p >= 0.f && p < 1.f) << "dropout probability must be in [0, 1), got " << p;
}

}  // namespace

void philox_uniform_cuda(float* out, std::size_t n, std::uint64_t seed, std::uint64_t stream_id,
                         std::uint64_t offset, cuda::StreamHandle stream) {
  if (n == 0) return;
  const int threads = cuda::block_threads(kThreads);
  auto* k = &philox_kernel<false>;
  LUCID_LAUNCH(k, grid_for(philox_blocks(n), threads), threads, 0, stream, out, n, seed, stream_id, offset,
               static_cast<const std::uint64_t*>(nullptr));
}

void philox_normal_cuda(float* out, std::size_t n, std::uint64_t seed, std::uint64_t stream_id,
                        std::uint64_t offset, cuda::StreamHandle stream) {
  if (n == 0) return;
  const int threads = cuda::block_threads(kThreads);
  auto* k = &philox_kernel<true>;
  LUCID_LAUNCH(k, grid_for(philox_blocks(n), threads), threads, 0, stream, out, n, seed, stream_id, offset,
               static_cast<const std::uint64_t*>(nullptr));
}

void philox_normal_at_cuda(float* out, std::size_t n, std::uint64_t seed, std::uint64_t stream_id,
                           const std::uint64_t* offset, cuda::StreamHandle stream) {
  LUCID_CHECK(offset != nullptr) << "philox_normal_at: the device offset is required";
  if (n == 0) return;
  const int threads = cuda::block_threads(kThreads);
  auto* k = &philox_kernel<true>;
  LUCID_LAUNCH(k, grid_for(philox_blocks(n), threads), threads, 0, stream, out, n, seed, stream_id,
               std::uint64_t{0}, offset);
}

void dropout_forward_cuda(const float* x, float* y, std::uint8_t* mask, std::size_t n, float p,
                          std::uint64_t seed, std::uint64_t stream_id, std::uint64_t offset,
                          cuda::StreamHandle stream) {
  check_p(p);
  if (n == 0) return;
  LUCID_NVTX_RANGE("kernels/dropout_forward");
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(dropout_forward_kernel, grid_for(philox_blocks(n), threads), threads, 0, stream, x, y, mask, n,
               p, 1.f / (1.f - p), seed, stream_id, offset);
}

void dropout_backward_cuda(const float* gy, const std::uint8_t* mask, float* gx, std::size_t n, float p,
                           std::uint64_t seed, std::uint64_t stream_id, std::uint64_t offset,
                           cuda::StreamHandle stream) {
  check_p(p);
  if (n == 0) return;
  LUCID_NVTX_RANGE("kernels/dropout_backward");
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(dropout_backward_kernel, grid_for(philox_blocks(n), threads), threads, 0, stream, gy, mask, gx,
               n, p, 1.f / (1.f - p), seed, stream_id, offset);
}

}  // namespace lucid::kernels
