// Philox random numbers and dropout on the GPU (kernels/cuda/random.cu), drawing exactly the
// numbers lucid::Rng draws on the CPU (same Philox4x32-10 blocks from kernels/hd/philox.h).
//
// Stream layout (lucid/engine/rng.h): element i of a bulk draw that starts at block `offset`
// comes from word i % 4 of block offset + i / 4 of (seed, stream). A draw of n values uses
// ceil(n / 4) blocks; the caller advances its Rng's offset by that much (philox_blocks(n)).
// Uniform is U[0,1) (hd::philox_uniform); normal is Box-Muller on word pairs (0,1) and (2,3).
//
// dropout_forward_cuda: element i is kept when its uniform draw u_i >= p; y = keep ? x / (1-p) : 0;
//   mask (n bytes, may be null) records keep. Backward: gx = mask ? gy / (1-p) : 0, or, without a
//   saved mask, the same draws are regenerated from (seed, stream, offset) — no mask memory at all.
// Outputs are written with `=`. All pointers are device pointers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hd/hd.h"
#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

LUCID_HD constexpr std::uint64_t philox_blocks(std::size_t n) {
  return (static_cast<std::uint64_t>(n) + 3) / 4;
}

void philox_uniform_cuda(float* out, std::size_t n, std::uint64_t seed, std::uint64_t stream_id,
                         std::uint64_t offset, cuda::StreamHandle stream);
void philox_normal_cuda(float* out, std::size_t n, std::uint64_t seed, std::uint64_t stream_id,
                        std::uint64_t offset, cuda::StreamHandle stream);
// The same draw with the block offset read from device memory (*offset) when the kernel runs, so
// a captured CUDA graph draws fresh numbers at each replay (Dream-MPC's plan graph).
void philox_normal_at_cuda(float* out, std::size_t n, std::uint64_t seed, std::uint64_t stream_id,
                           const std::uint64_t* offset, cuda::StreamHandle stream);

void dropout_forward_cuda(const float* x, float* y, std::uint8_t* mask, std::size_t n, float p,
                          std::uint64_t seed, std::uint64_t stream_id, std::uint64_t offset,
                          cuda::StreamHandle stream);
void dropout_backward_cuda(const float* gy, const std::uint8_t* mask, float* gx, std::size_t n, float p,
                           std::uint64_t seed, std::uint64_t stream_id, std::uint64_t offset,
                           cuda::StreamHandle stream);

}  // namespace lucid::kernels
