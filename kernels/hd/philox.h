// Philox4x32-10 counter-based random numbers (Salmon et al., SC'11), shared by host and device.
//
// One call maps a 128-bit counter and a 64-bit key to 128 random bits; there is no state, so a
// CUDA thread can draw element i of a stream by computing its counter directly and get the same
// bits as the CPU loop. lucid's stream layout (engine/include/lucid/engine/rng.h):
//   key     = {seed lo 32, seed hi 32}
//   counter = {block lo 32, block hi 32, stream lo 32, stream hi 32}
// where block is the 64-bit block index (the Rng's offset); block b yields elements 4b..4b+3.
// The float conversions below are part of the contract: CPU and CUDA must use these, not their own.
#pragma once

#include <cmath>
#include <cstdint>

#include "hd/hd.h"

namespace lucid::hd {

struct Philox4x32 {
  std::uint32_t v[4];
};

inline constexpr std::uint32_t kPhiloxM0 = 0xD2511F53u;  // round multipliers
inline constexpr std::uint32_t kPhiloxM1 = 0xCD9E8D57u;
inline constexpr std::uint32_t kPhiloxW0 = 0x9E3779B9u;  // Weyl key increments (golden ratio, sqrt(3)-1)
inline constexpr std::uint32_t kPhiloxW1 = 0xBB67AE85u;

LUCID_HD inline void philox_mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t* hi, std::uint32_t* lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * static_cast<std::uint64_t>(b);
  *hi = static_cast<std::uint32_t>(p >> 32);
  *lo = static_cast<std::uint32_t>(p);
}

LUCID_HD inline Philox4x32 philox_round(Philox4x32 c, std::uint32_t k0, std::uint32_t k1) {
  std::uint32_t hi0, lo0, hi1, lo1;
  philox_mulhilo(kPhiloxM0, c.v[0], &hi0, &lo0);
  philox_mulhilo(kPhiloxM1, c.v[2], &hi1, &lo1);
  return Philox4x32{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
}

// Philox4x32 with `rounds` rounds (10 is the standard, Crush-resistant choice).
LUCID_HD inline Philox4x32 philox4x32(Philox4x32 counter, std::uint32_t k0, std::uint32_t k1,
                                      int rounds = 10) {
  for (int r = 0; r < rounds; ++r) {
    if (r > 0) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    counter = philox_round(counter, k0, k1);
  }
  return counter;
}

// The 4 words of block `block` of stream `stream` under `seed` (lucid's layout, see above).
LUCID_HD inline Philox4x32 philox_block(std::uint64_t seed, std::uint64_t stream, std::uint64_t block) {
  const Philox4x32 c{{static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32),
                      static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)}};
  return philox4x32(c, static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

// U[0,1): the top 24 bits scaled by 2^-24 — exact in fp32, never 1.0.
LUCID_HD inline float philox_uniform(std::uint32_t x) {
  return static_cast<float>(x >> 8) * 5.9604644775390625e-8f;
}

// U(0,1]: used as the radius draw of Box-Muller so that log() never sees 0.
LUCID_HD inline float philox_uniform_open0(std::uint32_t x) {
  return static_cast<float>((x >> 8) + 1u) * 5.9604644775390625e-8f;
}

// Box-Muller: two uniform words -> two independent N(0,1) draws. Computed in fp32 with the
// standard library functions, so host and device agree to a few ulps (not bit-exactly).
LUCID_HD inline void philox_box_muller(std::uint32_t a, std::uint32_t b, float* z0, float* z1) {
  constexpr float kTwoPi = 6.28318530717958647692f;
  const float r = sqrtf(-2.0f * logf(philox_uniform_open0(a)));
  const float theta = kTwoPi * philox_uniform(b);
  *z0 = r * cosf(theta);
  *z1 = r * sinf(theta);
}

}  // namespace lucid::hd
