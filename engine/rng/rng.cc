// lucid::Rng bulk and single draws (layout and offset rules in lucid/engine/rng.h).
//
// Bulk draws are split over OpenMP threads by block, which is safe because every block is a pure
// function of (seed, stream, block index); the result does not depend on the thread count.
#include "lucid/engine/rng.h"

#include "hd/philox.h"

namespace lucid {
namespace {

// Below this many blocks the fork/join costs more than it saves.
constexpr std::int64_t kParallelBlocks = 1 << 14;

std::uint64_t blocks_for(std::size_t n) { return (static_cast<std::uint64_t>(n) + 3) / 4; }

}  // namespace

void Rng::uniform(float* out, std::size_t n) {
  const std::int64_t blocks = static_cast<std::int64_t>(blocks_for(n));
  const std::uint64_t base = offset_;
#pragma omp parallel for schedule(static) if (blocks >= kParallelBlocks)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const hd::Philox4x32 r = hd::philox_block(seed_, stream_, base + static_cast<std::uint64_t>(b));
    const std::size_t i0 = static_cast<std::size_t>(b) * 4;
    for (std::size_t j = 0; j < 4 && i0 + j < n; ++j) out[i0 + j] = hd::philox_uniform(r.v[j]);
  }
  offset_ = base + static_cast<std::uint64_t>(blocks);
}

void Rng::normal(float* out, std::size_t n) {
  const std::int64_t blocks = static_cast<std::int64_t>(blocks_for(n));
  const std::uint64_t base = offset_;
#pragma omp parallel for schedule(static) if (blocks >= kParallelBlocks)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const hd::Philox4x32 r = hd::philox_block(seed_, stream_, base + static_cast<std::uint64_t>(b));
    float z[4];
    hd::philox_box_muller(r.v[0], r.v[1], &z[0], &z[1]);
    hd::philox_box_muller(r.v[2], r.v[3], &z[2], &z[3]);
    const std::size_t i0 = static_cast<std::size_t>(b) * 4;
    for (std::size_t j = 0; j < 4 && i0 + j < n; ++j) out[i0 + j] = z[j];
  }
  offset_ = base + static_cast<std::uint64_t>(blocks);
}

float Rng::uniform() {
  float x;
  uniform(&x, 1);
  return x;
}

float Rng::normal() {
  float x;
  normal(&x, 1);
  return x;
}

}  // namespace lucid
