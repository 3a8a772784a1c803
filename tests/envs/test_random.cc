// Random reproduces numpy's legacy RandomState (what dm_control's tasks draw from). The expected
// numbers are numpy's well-known outputs (np.random.seed(s); np.random.rand(n) / randn(n)); an
// algorithm error (another generator, seeding, double construction or normal method) changes them
// in the first digit.
#include <gtest/gtest.h>

#include <vector>

#include "dmc/random.h"

namespace lucid::envs::dmc {
namespace {

TEST(Random, UniformMatchesNumpyRandomState) {
  Random r0(0, 0);
  for (double want :
       {0.5488135039273248, 0.7151893663724195, 0.6027633760716439, 0.5448831829968969, 0.4236547993389047})
    EXPECT_NEAR(r0.uniform(), want, 1e-12);
  Random r42(42, 0);
  for (double want : {0.3745401188473625, 0.9507143064099162, 0.7319939418114051})
    EXPECT_NEAR(r42.uniform(), want, 1e-12);
}

TEST(Random, NormalMatchesNumpyLegacyGauss) {
  Random r0(0, 0);
  for (double want :
       {1.764052345967664, 0.4001572083672233, 0.9787379841057392, 2.240893199201458, 1.8675579901499675})
    EXPECT_NEAR(r0.normal(), want, 1e-12);
  Random r42(42, 0);
  for (double want : {0.4967141530112327, -0.13826430117118466, 0.6476885381006925, 1.5230298564080254})
    EXPECT_NEAR(r42.normal(), want, 1e-12);
}

TEST(Random, UniformRangeAndReseed) {
  Random r(0, 0);
  EXPECT_NEAR(r.uniform(-2.0, 3.0), -2.0 + 5.0 * 0.5488135039273248, 1e-12);
  r.normal();  // leaves a cached value behind, which reseed must drop
  r.reseed(0, 0);
  EXPECT_NEAR(r.normal(), 1.764052345967664, 1e-12);
}

TEST(Random, StreamsAndLargeSeedsAreDistinctAndDeterministic) {
  auto draws = [](std::uint64_t seed, std::uint64_t stream) {
    Random r(seed, stream);
    std::vector<double> v(4);
    for (double& x : v) x = r.uniform();
    return v;
  };
  EXPECT_EQ(draws(7, 1), draws(7, 1));
  EXPECT_NE(draws(7, 1), draws(7, 0));
  EXPECT_NE(draws(7, 1), draws(7, 2));
  EXPECT_NE(draws(1ull << 32, 0), draws(0, 0));  // no silent truncation to 32 bits
}

}  // namespace
}  // namespace lucid::envs::dmc
