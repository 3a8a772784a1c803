// 16-lane (AVX-512) and 8-lane (AVX2) Philox4x32-10 (philox_lanes.h).
#include "philox_lanes.h"

// GCC 12 implements _mm512_mul_epu32 with an undefined pass-through operand that -Wuninitialized
// flags wherever it is inlined; the operand is never read (all lanes are written).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include "hd/philox.h"
#include "lucid/kernels/cpu_features.h"

namespace lucid::rng_detail {
namespace {

// GCC/Clang vectors for the lane arithmetic; one intrinsic (vpmuludq), which the compiler does not
// infer from a 64-bit vector multiply of zero-extended lanes.
using U32x16 = std::uint32_t __attribute__((vector_size(64)));
using U64x8 = std::uint64_t __attribute__((vector_size(64)));
using F32x16 = float __attribute__((vector_size(64)));

// (hi, lo) of the 32 x 32-bit products a * m in 16 lanes: the low halves from a 32-bit multiply;
// the high halves from vpmuludq on the even lanes and on the odd lanes shifted down (each gives
// 8 full 64-bit products), merged back into 32-bit lanes.
__attribute__((target("avx512f"), always_inline)) inline void mulhilo16(U32x16 a, std::uint32_t m, U32x16* hi,
                                                                        U32x16* lo) {
  *lo = a * m;
  const __m512i mv = _mm512_set1_epi32(static_cast<int>(m));
  const U64x8 a64 = __builtin_bit_cast(U64x8, a);
  const U64x8 even = __builtin_bit_cast(U64x8, _mm512_mul_epu32(__builtin_bit_cast(__m512i, a64), mv));
  const U64x8 odd = __builtin_bit_cast(U64x8, _mm512_mul_epu32(__builtin_bit_cast(__m512i, a64 >> 32), mv));
  constexpr std::uint64_t kLow = 0xffffffffull;
  const U64x8 h = (even >> 32) | (odd & ~kLow);  // each high half to its own 32-bit lane
  *hi = __builtin_bit_cast(U32x16, h);
}

// The four words of blocks block .. block + 15, one vector per word index.
__attribute__((target("avx512f"))) void philox16(std::uint64_t seed, std::uint64_t stream,
                                                 std::uint64_t block, U32x16 c[4]) {
  U32x16 c0, c1;
  for (int l = 0; l < 16; ++l) {  // the 64-bit block index of each lane, carries included
    const std::uint64_t b = block + static_cast<std::uint64_t>(l);
    c0[l] = static_cast<std::uint32_t>(b);
    c1[l] = static_cast<std::uint32_t>(b >> 32);
  }
  U32x16 c2 = U32x16{} + static_cast<std::uint32_t>(stream);
  U32x16 c3 = U32x16{} + static_cast<std::uint32_t>(stream >> 32);
  std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += hd::kPhiloxW0;
      k1 += hd::kPhiloxW1;
    }
    U32x16 hi0, lo0, hi1, lo1;
    mulhilo16(c0, hd::kPhiloxM0, &hi0, &lo0);
    mulhilo16(c2, hd::kPhiloxM1, &hi1, &lo1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  c[0] = c0;
  c[1] = c1;
  c[2] = c2;
  c[3] = c3;
}

// hd::philox_uniform on 16 lanes.
__attribute__((target("avx512f"), always_inline)) inline F32x16 uniform16(U32x16 w) {
  return __builtin_convertvector(w >> 8, F32x16) * 5.9604644775390625e-8f;
}

// Stream order is element 4 l + j = word j of block l: interleave the four word vectors (a 4 x 16
// transpose) and store 64 floats.
__attribute__((target("avx512f"), always_inline)) inline void store_interleaved(const F32x16 f[4],
                                                                                float* out) {
  const F32x16 a_lo =
      __builtin_shufflevector(f[0], f[1], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const F32x16 a_hi =
      __builtin_shufflevector(f[0], f[1], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const F32x16 b_lo =
      __builtin_shufflevector(f[2], f[3], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const F32x16 b_hi =
      __builtin_shufflevector(f[2], f[3], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const F32x16 o0 =
      __builtin_shufflevector(a_lo, b_lo, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
  const F32x16 o1 =
      __builtin_shufflevector(a_lo, b_lo, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
  const F32x16 o2 =
      __builtin_shufflevector(a_hi, b_hi, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
  const F32x16 o3 =
      __builtin_shufflevector(a_hi, b_hi, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
  __builtin_memcpy(out, &o0, sizeof(o0));
  __builtin_memcpy(out + 16, &o1, sizeof(o1));
  __builtin_memcpy(out + 32, &o2, sizeof(o2));
  __builtin_memcpy(out + 48, &o3, sizeof(o3));
}

__attribute__((target("avx512f"))) void uniform64_avx512(std::uint64_t seed, std::uint64_t stream,
                                                         std::uint64_t block, float* out) {
  U32x16 w[4];
  philox16(seed, stream, block, w);
  const F32x16 f[4] = {uniform16(w[0]), uniform16(w[1]), uniform16(w[2]), uniform16(w[3])};
  store_interleaved(f, out);
}

__attribute__((target("avx512f"))) void dropout64_avx512(std::uint64_t seed, std::uint64_t stream,
                                                         std::uint64_t block, float p, float keep,
                                                         float* out) {
  U32x16 w[4];
  philox16(seed, stream, block, w);
  F32x16 f[4];
  for (int j = 0; j < 4; ++j) {
    const F32x16 u = uniform16(w[j]);
    f[j] = u >= p ? F32x16{} + keep : F32x16{};
  }
  store_interleaved(f, out);
}

// ---- AVX2: the same rounds on 8 lanes (vpmuludq on 4 64-bit lanes), two groups per call ----
using U32x8 = std::uint32_t __attribute__((vector_size(32)));
using I32x8 = std::int32_t __attribute__((vector_size(32)));
using U64x4 = std::uint64_t __attribute__((vector_size(32)));
using F32x8 = float __attribute__((vector_size(32)));

__attribute__((target("avx2"), always_inline)) inline void mulhilo8(U32x8 a, std::uint32_t m, U32x8* hi,
                                                                    U32x8* lo) {
  *lo = a * m;
  const __m256i mv = _mm256_set1_epi32(static_cast<int>(m));
  const U64x4 a64 = __builtin_bit_cast(U64x4, a);
  const U64x4 even = __builtin_bit_cast(U64x4, _mm256_mul_epu32(__builtin_bit_cast(__m256i, a64), mv));
  const U64x4 odd = __builtin_bit_cast(U64x4, _mm256_mul_epu32(__builtin_bit_cast(__m256i, a64 >> 32), mv));
  constexpr std::uint64_t kLow = 0xffffffffull;
  const U64x4 h = (even >> 32) | (odd & ~kLow);
  *hi = __builtin_bit_cast(U32x8, h);
}

// The four words of blocks block .. block + 15 as two groups of 8 lanes, c[g][j] = word j of
// blocks block + 8 g .. block + 8 g + 7. The groups' rounds are independent and interleaved: one
// round is a chain of multiply, shift and XOR, so a single group would wait on its own latency.
__attribute__((target("avx2"))) void philox8x2(std::uint64_t seed, std::uint64_t stream, std::uint64_t block,
                                               U32x8 c[2][4]) {
  U32x8 c0[2], c1[2], c2[2], c3[2];
  const U32x8 first_lo = U32x8{} + static_cast<std::uint32_t>(block);
  const U32x8 first_hi = U32x8{} + static_cast<std::uint32_t>(block >> 32);
  for (int g = 0; g < 2; ++g) {
    // The 64-bit block index of each lane: low words block + lane, high words + 1 where they wrapped.
    const std::uint32_t l0 = 8 * static_cast<std::uint32_t>(g);
    c0[g] = first_lo + U32x8{l0, l0 + 1, l0 + 2, l0 + 3, l0 + 4, l0 + 5, l0 + 6, l0 + 7};
    c1[g] = first_hi - __builtin_bit_cast(U32x8, c0[g] < first_lo);
    c2[g] = U32x8{} + static_cast<std::uint32_t>(stream);
    c3[g] = U32x8{} + static_cast<std::uint32_t>(stream >> 32);
  }
  std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += hd::kPhiloxW0;
      k1 += hd::kPhiloxW1;
    }
    for (int g = 0; g < 2; ++g) {
      U32x8 hi0, lo0, hi1, lo1;
      mulhilo8(c0[g], hd::kPhiloxM0, &hi0, &lo0);
      mulhilo8(c2[g], hd::kPhiloxM1, &hi1, &lo1);
      c0[g] = hi1 ^ c1[g] ^ k0;
      c1[g] = lo1;
      c2[g] = hi0 ^ c3[g] ^ k1;
      c3[g] = lo0;
    }
  }
  for (int g = 0; g < 2; ++g) {
    c[g][0] = c0[g];
    c[g][1] = c1[g];
    c[g][2] = c2[g];
    c[g][3] = c3[g];
  }
}

// hd::philox_uniform on 8 lanes; w >> 8 < 2^24 converts exactly through the signed instruction
// (AVX2 has no unsigned one).
__attribute__((target("avx2"), always_inline)) inline F32x8 uniform8(U32x8 w) {
  return __builtin_convertvector(__builtin_bit_cast(I32x8, w >> 8), F32x8) * 5.9604644775390625e-8f;
}

// Element 4 l + j = word j of block l: a 4 x 8 transpose, 32 floats stored.
__attribute__((target("avx2"), always_inline)) inline void store_interleaved8(const F32x8 f[4], float* out) {
  const F32x8 a_lo = __builtin_shufflevector(f[0], f[1], 0, 8, 1, 9, 2, 10, 3, 11);
  const F32x8 a_hi = __builtin_shufflevector(f[0], f[1], 4, 12, 5, 13, 6, 14, 7, 15);
  const F32x8 b_lo = __builtin_shufflevector(f[2], f[3], 0, 8, 1, 9, 2, 10, 3, 11);
  const F32x8 b_hi = __builtin_shufflevector(f[2], f[3], 4, 12, 5, 13, 6, 14, 7, 15);
  const F32x8 o0 = __builtin_shufflevector(a_lo, b_lo, 0, 1, 8, 9, 2, 3, 10, 11);
  const F32x8 o1 = __builtin_shufflevector(a_lo, b_lo, 4, 5, 12, 13, 6, 7, 14, 15);
  const F32x8 o2 = __builtin_shufflevector(a_hi, b_hi, 0, 1, 8, 9, 2, 3, 10, 11);
  const F32x8 o3 = __builtin_shufflevector(a_hi, b_hi, 4, 5, 12, 13, 6, 7, 14, 15);
  __builtin_memcpy(out, &o0, sizeof(o0));
  __builtin_memcpy(out + 8, &o1, sizeof(o1));
  __builtin_memcpy(out + 16, &o2, sizeof(o2));
  __builtin_memcpy(out + 24, &o3, sizeof(o3));
}

__attribute__((target("avx2"))) void uniform64_avx2(std::uint64_t seed, std::uint64_t stream,
                                                    std::uint64_t block, float* out) {
  U32x8 words[2][4];
  philox8x2(seed, stream, block, words);
  for (int half = 0; half < 2; ++half) {
    const U32x8* w = words[half];
    const F32x8 f[4] = {uniform8(w[0]), uniform8(w[1]), uniform8(w[2]), uniform8(w[3])};
    store_interleaved8(f, out + 32 * half);
  }
}

__attribute__((target("avx2"))) void dropout64_avx2(std::uint64_t seed, std::uint64_t stream,
                                                    std::uint64_t block, float p, float keep, float* out) {
  U32x8 words[2][4];
  philox8x2(seed, stream, block, words);
  for (int half = 0; half < 2; ++half) {
    const U32x8* w = words[half];
    F32x8 f[4];
    for (int j = 0; j < 4; ++j) {
      const F32x8 u = uniform8(w[j]);
      f[j] = u >= p ? F32x8{} + keep : F32x8{};
    }
    store_interleaved8(f, out + 32 * half);
  }
}

}  // namespace

bool lanes_supported(PhiloxLanes isa) {
  switch (isa) {
    case PhiloxLanes::kNone:
      return true;
    case PhiloxLanes::kAvx2:
      return kernels::cpu_has_avx2_fma();
    case PhiloxLanes::kAvx512:
      return kernels::cpu_has_avx512f();
  }
  return false;
}

PhiloxLanes best_lanes() {
  static const PhiloxLanes best = lanes_supported(PhiloxLanes::kAvx512) ? PhiloxLanes::kAvx512
                                  : lanes_supported(PhiloxLanes::kAvx2) ? PhiloxLanes::kAvx2
                                                                        : PhiloxLanes::kNone;
  return best;
}

void uniform64(PhiloxLanes isa, std::uint64_t seed, std::uint64_t stream, std::uint64_t block, float* out) {
  if (isa == PhiloxLanes::kAvx512) {
    uniform64_avx512(seed, stream, block, out);
  } else if (isa == PhiloxLanes::kAvx2) {
    uniform64_avx2(seed, stream, block, out);
  } else {
    for (int b = 0; b < 16; ++b) {
      const hd::Philox4x32 r = hd::philox_block(seed, stream, block + static_cast<std::uint64_t>(b));
      for (int j = 0; j < 4; ++j) out[4 * b + j] = hd::philox_uniform(r.v[j]);
    }
  }
}

void dropout64(PhiloxLanes isa, std::uint64_t seed, std::uint64_t stream, std::uint64_t block, float p,
               float keep, float* out) {
  if (isa == PhiloxLanes::kAvx512) {
    dropout64_avx512(seed, stream, block, p, keep, out);
  } else if (isa == PhiloxLanes::kAvx2) {
    dropout64_avx2(seed, stream, block, p, keep, out);
  } else {
    for (int b = 0; b < 16; ++b) {
      const hd::Philox4x32 r = hd::philox_block(seed, stream, block + static_cast<std::uint64_t>(b));
      for (int j = 0; j < 4; ++j) out[4 * b + j] = hd::philox_uniform(r.v[j]) >= p ? keep : 0.f;
    }
  }
}

}  // namespace lucid::rng_detail
