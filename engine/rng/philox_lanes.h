// Philox4x32-10 for 16 consecutive blocks at once, for the CPU's bulk draws: in 16 lanes on
// AVX-512, or as two groups of 8 lanes on AVX2 (the AMD EPYC and older Xeon hosts).
//
// Why: a training step draws ~3M dropout-mask values (TD-MPC2 5M: 5 Q heads' and the policy
// loss's first-layer masks); one block at a time, each 32 x 32 -> 64-bit multiply is a scalar
// instruction and the draw was ~2.4% of the update's samples. Here one register holds one word
// of 16 (AVX-512) or 8 (AVX2) blocks, a round is multiply-high/low pairs and four XORs, and the
// 64 values are converted and interleaved into stream order in registers. On AVX2 the two groups
// of 8 run their rounds interleaved (one group alone waits on the round's latency chain).
// `bench_engine --benchmark_filter=DropoutMask`, one thread, AMD EPYC (Zen 3): one block at a time
// 7.9-8.1 ms for the 3M values, AVX2 lanes 3.0-3.1 ms. Integer arithmetic and the same float
// conversion as hd/philox.h: bit-identical to the one-block path (tests/engine/test_rng.cc).
//
// best_lanes(): the widest lane set this CPU has (checked once), or kNone; lanes_supported(isa):
// whether the CPU has that one (tests run every supported set against the one-block formula).
// uniform64 / dropout64: out[0..63] = elements 0..63 of blocks block .. block + 15 as
// hd::philox_uniform, or as the dropout mask (u >= p ? keep : 0), computed with the given lane
// set, which the CPU must support. Internal to engine/rng.
#pragma once

#include <cstdint>

namespace lucid::rng_detail {

enum class PhiloxLanes { kNone, kAvx2, kAvx512 };

PhiloxLanes best_lanes();
bool lanes_supported(PhiloxLanes isa);
void uniform64(PhiloxLanes isa, std::uint64_t seed, std::uint64_t stream, std::uint64_t block, float* out);
void dropout64(PhiloxLanes isa, std::uint64_t seed, std::uint64_t stream, std::uint64_t block, float p,
               float keep, float* out);

}  // namespace lucid::rng_detail
