// Philox4x32-10 for 16 consecutive blocks at once on AVX-512, for the CPU's bulk draws.
//
// Why: a training step draws ~3M dropout-mask values (TD-MPC2 5M: 5 Q heads' and the policy
// loss's first-layer masks); one block at a time, each 32 x 32 -> 64-bit multiply is a scalar
// instruction and the draw was ~2.4% of the update's samples. Here one register holds one word
// of 16 blocks, a round is two 16-lane multiply-high/low pairs and four XORs, and the 64 values
// are converted and interleaved into stream order in registers. Integer arithmetic and the same
// float conversion as hd/philox.h: bit-identical to the one-block path (tests/engine/test_rng.cc).
//
// philox_lanes_available(): the CPU has AVX-512F (checked once); call the others only then.
// uniform64 / dropout64: out[0..63] = elements 0..63 of blocks block .. block + 15 as
// hd::philox_uniform, or as the dropout mask (u >= p ? keep : 0). Internal to engine/rng.
#pragma once

#include <cstdint>

namespace lucid::rng_detail {

bool philox_lanes_available();
void uniform64(std::uint64_t seed, std::uint64_t stream, std::uint64_t block, float* out);
void dropout64(std::uint64_t seed, std::uint64_t stream, std::uint64_t block, float p, float keep,
               float* out);

}  // namespace lucid::rng_detail
