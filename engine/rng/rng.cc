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

void Rng::dropout_mask(float* out, std::size_t n, float p) {
  const std::int64_t blocks = static_cast<std::int64_t>(blocks_for(n));
  const std::uint64_t base = offset_;
  const float keep = 1.f / (1.f - p);
#pragma omp parallel for schedule(static) if (blocks >= kParallelBlocks)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const hd::Philox4x32 r = hd::philox_block(seed_, stream_, base + static_cast<std::uint64_t>(b));
    const std::size_t i0 = static_cast<std::size_t>(b) * 4;
    for (std::size_t j = 0; j < 4 && i0 + j < n; ++j)
      out[i0 + j] = hd::philox_uniform(r.v[j]) >= p ? keep : 0.f;
  }
  offset_ = base + static_cast<std::uint64_t>(blocks);
}

// Single draws compute their one block here rather than through the bulk path, whose OpenMP
// region (skipped, but still entered) costs more than the draw; the values are the same.
float Rng::uniform() {
  const hd::Philox4x32 r = hd::philox_block(seed_, stream_, offset_++);
  return hd::philox_uniform(r.v[0]);
}

float Rng::normal() {
  const hd::Philox4x32 r = hd::philox_block(seed_, stream_, offset_++);
  float z[2];
  hd::philox_box_muller(r.v[0], r.v[1], &z[0], &z[1]);
  return z[0];
}

}  // namespace lucid
