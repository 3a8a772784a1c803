// agents::consistency_step and add_latent_grad against a plain serial loop: the gradient exactly,
// the sum of squares to double rounding, and the same bits on one thread and on two.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lucid/agents/consistency_loss.h"
#include "lucid/engine/rng.h"
#include "lucid/kernels/threading.h"

namespace lucid::agents {
namespace {

struct Result {
  double se = 0.0;
  std::vector<float> dz;
};

Result run(int threads, const std::vector<float>& z, const std::vector<float>& target, int rows, int L,
           float scale) {
  kernels::set_num_threads(threads);
  Result r;
  r.dz.assign(z.size(), 0.25f);
  std::vector<double> partials(static_cast<std::size_t>(rows));
  r.se = consistency_step(z.data(), target.data(), rows, L, scale, r.dz.data(), partials.data());
  kernels::set_num_threads(1);
  return r;
}

TEST(ConsistencyLoss, StepMatchesTheSerialLoopOnAnyThreadCount) {
  const int rows = 256, L = 512;  // above the parallel grain
  const float scale = 0.3f;
  std::vector<float> z(static_cast<std::size_t>(rows) * L), target(z.size());
  Rng rng(9);
  rng.normal(z.data(), z.size());
  rng.normal(target.data(), target.size());

  double want_se = 0.0;
  std::vector<float> want_dz(z.size(), 0.25f);
  for (std::size_t i = 0; i < z.size(); ++i) {
    const float d = z[i] - target[i];
    want_se += static_cast<double>(d) * d;
    want_dz[i] += scale * d;
  }
  const Result one = run(1, z, target, rows, L, scale);
  const Result two = run(2, z, target, rows, L, scale);
  EXPECT_EQ(one.dz, want_dz);
  EXPECT_NEAR(one.se, want_se, 1e-12 * want_se);
  EXPECT_EQ(one.se, two.se);
  EXPECT_EQ(one.dz, two.dz);
}

TEST(ConsistencyLoss, LatentGradAddsOnlyTheFirstColumns) {
  const int rows = 300, L = 128, width = L + 6;
  std::vector<float> dx(static_cast<std::size_t>(rows) * width), dz(static_cast<std::size_t>(rows) * L, 1.f);
  for (std::size_t i = 0; i < dx.size(); ++i) dx[i] = static_cast<float>(i % width);
  kernels::set_num_threads(2);
  add_latent_grad(dx.data(), L, width, rows, dz.data());
  kernels::set_num_threads(1);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < L; ++j)
      ASSERT_EQ(dz[static_cast<std::size_t>(r) * L + j], 1.f + static_cast<float>(j));
}

}  // namespace
}  // namespace lucid::agents
