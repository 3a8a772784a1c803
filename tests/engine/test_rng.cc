// Philox4x32-10 and lucid::Rng: Random123's published known-answer vectors, the stream/offset
// layout of rng.h, and the moments of the uniform and normal draws.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "../../engine/rng/philox_lanes.h"
#include "hd/philox.h"
#include "lucid/engine/rng.h"

namespace {

using lucid::Rng;
using lucid::hd::Philox4x32;

struct Kat {
  Philox4x32 ctr;
  std::uint32_t k0, k1;
  Philox4x32 want;
};

// Random123 kat_vectors, "philox4x32 10" lines: counter[4] key[2] -> output[4].
TEST(Philox, KnownAnswerVectors) {
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       0xffffffff,
       0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       0xa4093822,
       0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& k : kats) {
    const Philox4x32 got = lucid::hd::philox4x32(k.ctr, k.k0, k.k1);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(got.v[j], k.want.v[j]) << "word " << j;
  }
}

TEST(Philox, BlockLayoutMatchesCounterAndKey) {
  const std::uint64_t seed = 0x299f31d0a4093822ull, stream = 0x0370734413198a2eull,
                      block = 0x85a308d3243f6a88ull;
  const Philox4x32 got = lucid::hd::philox_block(seed, stream, block);
  EXPECT_EQ(got.v[0], 0xd16cfe09u);
  EXPECT_EQ(got.v[3], 0x24126ea1u);
}

TEST(Philox, UniformConversionIsInHalfOpenUnitInterval) {
  EXPECT_EQ(lucid::hd::philox_uniform(0u), 0.0f);
  EXPECT_LT(lucid::hd::philox_uniform(0xffffffffu), 1.0f);
  EXPECT_GT(lucid::hd::philox_uniform_open0(0u), 0.0f);
  EXPECT_EQ(lucid::hd::philox_uniform_open0(0xffffffffu), 1.0f);
}

TEST(Rng, BulkDrawUsesBlocksFromOffset) {
  Rng rng(1234, 7);
  rng.set_offset(10);
  std::vector<float> u(9);
  rng.uniform(u.data(), u.size());
  EXPECT_EQ(rng.offset(), 13u);  // ceil(9/4) blocks, partial tail skipped
  for (std::size_t i = 0; i < u.size(); ++i) {
    const Philox4x32 b = lucid::hd::philox_block(1234, 7, 10 + i / 4);
    EXPECT_EQ(u[i], lucid::hd::philox_uniform(b.v[i % 4])) << i;
  }
}

// Bulk draws of whole 16-block groups take the widest lane path the CPU has: every element
// must still be the one-block formula's, across group tails, partial blocks and a block index
// whose low 32 bits wrap inside a group.
TEST(Rng, BulkDrawsMatchTheOneBlockFormulaEverywhere) {
  const std::uint64_t offsets[] = {0, 3, (std::uint64_t{1} << 32) - 7};
  for (const std::uint64_t offset : offsets) {
    for (const std::size_t n :
         {std::size_t{63}, std::size_t{64}, std::size_t{65}, std::size_t{1000}, std::size_t{70001}}) {
      Rng u_rng(99, 5), d_rng(99, 5);
      u_rng.set_offset(offset);
      d_rng.set_offset(offset);
      std::vector<float> u(n), d(n);
      u_rng.uniform(u.data(), n);
      d_rng.dropout_mask(d.data(), n, 0.3f);
      for (std::size_t i = 0; i < n; ++i) {
        const Philox4x32 b = lucid::hd::philox_block(99, 5, offset + i / 4);
        const float want = lucid::hd::philox_uniform(b.v[i % 4]);
        ASSERT_EQ(u[i], want) << "offset " << offset << " n " << n << " i " << i;
        ASSERT_EQ(d[i], want >= 0.3f ? 1.f / 0.7f : 0.f) << "offset " << offset << " n " << n << " i " << i;
      }
    }
  }
}

// Each lane set the CPU has (AVX-512: 16 lanes; AVX2: two groups of 8), called directly so both
// are checked on a CPU that has both: all 64 values of a call are the one-block formula's, also
// where a block index's low 32 bits wrap inside the call and where a group of 8 starts.
TEST(Rng, EveryLaneSetOnThisCpuMatchesTheOneBlockFormula) {
  using lucid::rng_detail::PhiloxLanes;
  int checked = 0;
  for (const PhiloxLanes isa : {PhiloxLanes::kNone, PhiloxLanes::kAvx2, PhiloxLanes::kAvx512}) {
    if (!lucid::rng_detail::lanes_supported(isa)) continue;
    ++checked;
    for (const std::uint64_t block : {std::uint64_t{0}, std::uint64_t{5}, (std::uint64_t{1} << 32) - 9,
                                      (std::uint64_t{1} << 32) - 3, ~std::uint64_t{0} - 40}) {
      const std::uint64_t seed = 0x9e3779b97f4a7c15ull, stream = 0x0123456789abcdefull;
      float u[64], d[64];
      lucid::rng_detail::uniform64(isa, seed, stream, block, u);
      lucid::rng_detail::dropout64(isa, seed, stream, block, 0.25f, 4.f / 3.f, d);
      for (int i = 0; i < 64; ++i) {
        const Philox4x32 b = lucid::hd::philox_block(seed, stream, block + static_cast<std::uint64_t>(i / 4));
        const float want = lucid::hd::philox_uniform(b.v[i % 4]);
        ASSERT_EQ(u[i], want) << "lanes " << static_cast<int>(isa) << " block " << block << " i " << i;
        ASSERT_EQ(d[i], want >= 0.25f ? 4.f / 3.f : 0.f) << "lanes " << static_cast<int>(isa) << " i " << i;
      }
    }
  }
  EXPECT_GE(checked, 1);
  if (lucid::rng_detail::best_lanes() == PhiloxLanes::kNone)
    GTEST_SKIP() << "this CPU has no AVX2: only the one-block path was checked";
}

TEST(Rng, OffsetRestoresTheSameDraws) {
  Rng a(42);
  std::vector<float> warm(5), x(100), y(100);
  a.normal(warm.data(), warm.size());
  const std::uint64_t saved = a.offset();
  a.normal(x.data(), x.size());
  Rng b(42);
  b.set_offset(saved);
  b.normal(y.data(), y.size());
  EXPECT_EQ(x, y);
}

TEST(Rng, StreamsAndSeedsDiffer) {
  std::vector<float> a(64), b(64), c(64);
  Rng(1, 0).uniform(a.data(), a.size());
  Rng(1, 1).uniform(b.data(), b.size());
  Rng(2, 0).uniform(c.data(), c.size());
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
}

TEST(Rng, SingleDrawsConsumeOneBlockEach) {
  Rng rng(5);
  const float u = rng.uniform();
  const float z = rng.normal();
  EXPECT_EQ(rng.offset(), 2u);
  EXPECT_EQ(u, lucid::hd::philox_uniform(lucid::hd::philox_block(5, 0, 0).v[0]));
  float z0, z1;
  const Philox4x32 b1 = lucid::hd::philox_block(5, 0, 1);
  lucid::hd::philox_box_muller(b1.v[0], b1.v[1], &z0, &z1);
  EXPECT_EQ(z, z0);
}

// The mask is the bulk uniform draw thresholded at p and scaled by 1 / (1 - p): the same blocks and
// the same offset advance, across the size at which the draw splits over threads (2^14 blocks).
TEST(Rng, DropoutMaskThresholdsTheUniformDraw) {
  for (const float p : {0.01f, 0.5f}) {
    for (const std::size_t n : {std::size_t{7}, std::size_t{200003}}) {
      Rng a(11, 3), b(11, 3);
      a.set_offset(5);
      b.set_offset(5);
      std::vector<float> u(n), mask(n);
      a.uniform(u.data(), n);
      b.dropout_mask(mask.data(), n, p);
      EXPECT_EQ(a.offset(), b.offset());
      std::size_t dropped = 0;
      for (std::size_t i = 0; i < n; ++i) {
        ASSERT_EQ(mask[i], u[i] >= p ? 1.f / (1.f - p) : 0.f) << i;
        dropped += mask[i] == 0.f;
      }
      if (n > 1000) {
        EXPECT_NEAR(static_cast<double>(dropped) / static_cast<double>(n), p, 0.01);
      }
    }
  }
}

// Moments of 2^20 draws: the standard errors are ~3e-4 (uniform mean) and ~1e-3 (normal mean),
// so the tolerances below are ~5 sigma and a broken conversion fails them by orders of magnitude.
TEST(Rng, UniformMoments) {
  std::vector<float> u(1 << 20);
  Rng(2024).uniform(u.data(), u.size());
  double s = 0, s2 = 0, lo = 1, hi = 0;
  for (float x : u) {
    ASSERT_GE(x, 0.0f);
    ASSERT_LT(x, 1.0f);
    s += x, s2 += double(x) * x, lo = std::min<double>(lo, x), hi = std::max<double>(hi, x);
  }
  const double n = double(u.size()), mean = s / n, var = s2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.5, 1.5e-3);
  EXPECT_NEAR(var, 1.0 / 12.0, 1e-3);
  EXPECT_LT(lo, 1e-4);
  EXPECT_GT(hi, 1 - 1e-4);
}

TEST(Rng, NormalMoments) {
  std::vector<float> z(1 << 20);
  Rng(99, 3).normal(z.data(), z.size());
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
  std::size_t beyond3 = 0;
  for (float x : z) {
    ASSERT_TRUE(std::isfinite(x));
    const double d = x;
    m1 += d, m2 += d * d, m3 += d * d * d, m4 += d * d * d * d;
    beyond3 += std::abs(d) > 3.0;
  }
  const double n = double(z.size());
  EXPECT_NEAR(m1 / n, 0.0, 5e-3);
  EXPECT_NEAR(m2 / n, 1.0, 8e-3);
  EXPECT_NEAR(m3 / n, 0.0, 2.5e-2);
  EXPECT_NEAR(m4 / n, 3.0, 5e-2);
  EXPECT_NEAR(double(beyond3) / n, 0.0027, 6e-4);  // two-sided 3-sigma tail of N(0,1)
}

}  // namespace
