// "No allocation after allocate()": MPPI on the real TD-MPC2 model, counted with a replaced global
// operator new. The first plan() call may grow the model's scratch to the batch; the next ones
// must not allocate at all.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "lucid/engine/rng.h"
#include "lucid/models/tdmpc2/model.h"
#include "lucid/planners/mppi.h"

namespace {
std::atomic<long> g_allocations{0};
}

void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace lucid::planners {
namespace {

TEST(MppiAllocation, PlanAllocatesNothingAfterTheFirstCall) {
  models::tdmpc2::Tdmpc2Model model(models::tdmpc2::tdmpc2_preset(1, 5, 2));
  Rng init(1);
  model.init(init);
  PlannerConfig c;
  c.action_dim = 2;
  c.latent_dim = model.latent_dim();
  c.num_samples = 64;
  c.num_elites = 8;
  c.num_pi_trajs = 4;
  Mppi mppi(c);
  mppi.allocate(2);
  Rng rng(2);
  const Tensor obs = Tensor::from({0.1f, 0.2f, -0.3f, 0.4f, 0.5f, 0.f, 0.1f, 0.f, -1.f, 0.3f}, Shape{2, 5});
  mppi.plan(model, obs, rng, false);  // grows the model's scratch
  const long before = g_allocations.load();
  for (int i = 0; i < 3; ++i) mppi.plan(model, obs, rng, i % 2 == 0);
  EXPECT_EQ(g_allocations.load() - before, 0);
}

}  // namespace
}  // namespace lucid::planners
