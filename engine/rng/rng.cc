// lucid::Rng bulk and single draws (layout and offset rules in lucid/engine/rng.h).
//
// Bulk draws are split over OpenMP threads by block, which is safe because every block is a pure
// function of (seed, stream, block index); the result does not depend on the thread count.
// Uniform and dropout draws take 16 blocks at a time through the AVX-512 or AVX2 Philox lanes when
// the CPU has them (philox_lanes.h: the same bits), else one block at a time.
#include "lucid/engine/rng.h"

#include "hd/philox.h"
#include "philox_lanes.h"

namespace lucid {
namespace {

// Below this many blocks the fork/join costs more than it saves.
constexpr std::int64_t kParallelBlocks = 1 << 14;
constexpr std::int64_t kLaneBlocks = 16;  // blocks per uniform64 / dropout64 call

std::uint64_t blocks_for(std::size_t n) { return (static_cast<std::uint64_t>(n) + 3) / 4; }

// out[i] = convert(word i) for i < n, word i being word i % 4 of block base + i / 4. Groups of 16
// whole blocks inside n go through `lanes` (64 values at once) when the CPU has AVX2 or AVX-512.
template <typename Convert, typename Lanes>
void draw_words(std::uint64_t seed, std::uint64_t stream, std::uint64_t base, float* out, std::size_t n,
                Convert convert, Lanes lanes) {
  const std::int64_t blocks = static_cast<std::int64_t>(blocks_for(n));
  const bool vector = rng_detail::best_lanes() != rng_detail::PhiloxLanes::kNone;
  const std::int64_t groups = (blocks + kLaneBlocks - 1) / kLaneBlocks;
#pragma omp parallel for schedule(static) if (blocks >= kParallelBlocks)
  for (std::int64_t g = 0; g < groups; ++g) {
    const std::int64_t b0 = g * kLaneBlocks;
    const std::size_t i0 = static_cast<std::size_t>(b0) * 4;
    if (vector && i0 + 4 * kLaneBlocks <= n) {
      lanes(base + static_cast<std::uint64_t>(b0), out + i0);
      continue;
    }
    for (std::int64_t b = b0; b < blocks && b < b0 + kLaneBlocks; ++b) {
      const hd::Philox4x32 r = hd::philox_block(seed, stream, base + static_cast<std::uint64_t>(b));
      const std::size_t j0 = static_cast<std::size_t>(b) * 4;
      for (std::size_t j = 0; j < 4 && j0 + j < n; ++j) out[j0 + j] = convert(r.v[j]);
    }
  }
}

}  // namespace

void Rng::uniform(float* out, std::size_t n) {
  const std::uint64_t seed = seed_, stream = stream_;
  draw_words(
      seed, stream, offset_, out, n, [](std::uint32_t x) { return hd::philox_uniform(x); },
      [seed, stream](std::uint64_t block, float* o) {
        rng_detail::uniform64(rng_detail::best_lanes(), seed, stream, block, o);
      });
  offset_ += blocks_for(n);
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
  const float keep = 1.f / (1.f - p);
  const std::uint64_t seed = seed_, stream = stream_;
  draw_words(
      seed, stream, offset_, out, n,
      [p, keep](std::uint32_t x) { return hd::philox_uniform(x) >= p ? keep : 0.f; },
      [=](std::uint64_t block, float* o) {
        rng_detail::dropout64(rng_detail::best_lanes(), seed, stream, block, p, keep, o);
      });
  offset_ += blocks_for(n);
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
