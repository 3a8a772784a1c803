// MPPI's fast paths keep the official values: the thread-sliced rollout gives bit-identical plans
// for 1 and 2 threads (every sample's value, not only the action: one row's error rarely moves the
// elites), and the TD-MPC2 shortcuts (first step from the shared start latent,
// concurrent per-thread scratch) agree with the generic WorldModel path that evaluates every row
// through reward_into/next_into on one thread.
#include <gtest/gtest.h>

#include <vector>

#include "lucid/engine/rng.h"
#include "lucid/kernels/threading.h"
#include "lucid/models/tdmpc2/model.h"
#include "lucid/planners/mppi.h"

namespace lucid::planners {
namespace {

using models::tdmpc2::Tdmpc2Model;

// Random weights everywhere (init() zeroes the reward and Q output layers, which would make every
// value 0 and every plan trivially equal).
void randomise(Tdmpc2Model& model, std::uint64_t seed) {
  Rng rng(seed);
  std::span<float> p = model.params();
  rng.normal(p.data(), p.size());
  for (float& x : p) x *= 0.1f;
  std::span<float> t = model.target_q();
  std::copy(p.begin() + static_cast<std::ptrdiff_t>(model.layout().q_begin()),
            p.begin() + static_cast<std::ptrdiff_t>(model.layout().q_end()), t.begin());
  model.bump_weights_version();
}

// The same model seen through the generic interface only: no concurrent queries, no shared start.
class GenericView final : public models::WorldModel {
 public:
  explicit GenericView(const Tdmpc2Model& m) : m_(m) {}
  int observation_dim() const override { return m_.observation_dim(); }
  int action_dim() const override { return m_.action_dim(); }
  int latent_dim() const override { return m_.latent_dim(); }
  int num_values() const override { return m_.num_values(); }
  bool value_uses_action() const override { return true; }
  void encode_into(const Tensor& o, const Tensor& z) const override { m_.encode_into(o, z); }
  void next_into(const Tensor& z, const Tensor& a, const Tensor& n) const override { m_.next_into(z, a, n); }
  void reward_into(const Tensor& z, const Tensor& a, const Tensor& r) const override {
    m_.reward_into(z, a, r);
  }
  void value_into(const Tensor& z, const Tensor& a, std::span<const int> h, const Tensor& v) const override {
    m_.value_into(z, a, h, v);
  }
  void value_ensemble_into(const Tensor& z, const Tensor& a, const Tensor& vs) const override {
    m_.value_ensemble_into(z, a, vs);
  }
  void policy_into(const Tensor& z, const Tensor& mean, const Tensor& ls) const override {
    m_.policy_into(z, mean, ls);
  }
  void policy_action_into(const Tensor& z, const Tensor& e, const Tensor& a) const override {
    m_.policy_action_into(z, e, a);
  }

 private:
  const Tdmpc2Model& m_;
};

PlannerConfig config(const Tdmpc2Model& model) {
  PlannerConfig c;
  c.action_dim = model.action_dim();
  c.latent_dim = model.latent_dim();
  c.num_samples = 96;
  c.num_elites = 12;
  c.num_pi_trajs = 6;
  return c;
}

struct Plan {
  std::vector<float> action, mean, values;  // values: every sample's, each call's last iteration
};

Plan run(const models::WorldModel& model, const PlannerConfig& c, int threads, bool eval) {
  kernels::set_num_threads(threads);
  Mppi mppi(c);
  mppi.allocate(2);
  Rng rng(5);
  const Tensor obs = Tensor::from({0.1f, 0.2f, -0.3f, 0.4f, 0.5f, 0.f, 0.1f, 0.f, -1.f, 0.3f}, Shape{2, 5});
  Plan p;
  for (int call = 0; call < 2; ++call) {  // the second call is warm-started
    const Tensor a = mppi.plan(model, obs, rng, eval);
    p.action.assign(a.data(), a.data() + a.numel());
    p.values.insert(p.values.end(), mppi.sample_values().begin(), mppi.sample_values().end());
  }
  p.mean = mppi.mean();
  kernels::set_num_threads(1);
  return p;
}

TEST(MppiFastPaths, ThreadSlicesGiveBitIdenticalPlans) {
  Tdmpc2Model model(models::tdmpc2::tdmpc2_preset(1, 5, 2));
  randomise(model, 3);
  for (bool eval : {true, false}) {
    const Plan one = run(model, config(model), 1, eval);
    for (const int threads : {2, 3, 7}) {  // slices split by rollout + terminal cost, no barrier
      const Plan many = run(model, config(model), threads, eval);
      EXPECT_EQ(one.action, many.action) << threads << " threads";
      EXPECT_EQ(one.mean, many.mean) << threads << " threads";
      EXPECT_EQ(one.values, many.values) << threads << " threads";
    }
  }
}

TEST(MppiFastPaths, SharedStartAgreesWithTheGenericPath) {
  Tdmpc2Model model(models::tdmpc2::tdmpc2_preset(1, 5, 2));
  randomise(model, 4);
  const GenericView generic(model);
  const Plan fast = run(model, config(model), 2, true);
  const Plan slow = run(generic, config(model), 1, true);
  ASSERT_EQ(fast.mean.size(), slow.mean.size());
  // Only float summation order differs (the first layer splits [z | a] into two products).
  for (std::size_t i = 0; i < fast.mean.size(); ++i) EXPECT_NEAR(fast.mean[i], slow.mean[i], 1e-4f) << i;
  for (std::size_t i = 0; i < fast.action.size(); ++i)
    EXPECT_NEAR(fast.action[i], slow.action[i], 1e-4f) << i;
}

}  // namespace
}  // namespace lucid::planners
