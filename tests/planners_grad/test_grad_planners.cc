// Gradient planners and CEM on the linear-quadratic model of linear_model.h.
//
// The optimum of J(a) = -sum_t (|M z_t + N a_t - g|^2 + beta |a_t|^2) (the terminal value is
// constant) is the least-squares solution of a linear residual r(a) = C a + d; the test builds C
// and d column by column from its own rollout and solves the normal equations, so the reference
// shares no code with the planners.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "linear_model.h"
#include "lucid/error.h"
#include "lucid/planners/cem.h"
#include "lucid/planners/dream_mpc.h"
#include "lucid/planners/grad_mpc.h"
#include "lucid/planners/planner.h"

namespace lucid::planners {
namespace {

using testing::LinearModel;
using testing::LinearModelSpec;

constexpr int kH = 3;
const std::vector<float> kZ0 = {0.3f, -0.2f};

LinearModelSpec lq_spec() {
  LinearModelSpec s;
  s.F = {1.f, 0.1f, 0.f, 1.f};
  s.G = {0.5f, 0.f, 0.1f, 0.5f};
  s.M = s.F;
  s.N = s.G;
  s.g = {0.5f, 0.4f};
  s.beta = 0.1f;
  return s;
}

// Residuals of the LQ objective for a stacked action vector (H * A): 2 L + A values per step.
std::vector<double> residual(const LinearModelSpec& s, const std::vector<double>& a) {
  std::vector<double> z(kZ0.begin(), kZ0.end()), out;
  for (int t = 0; t < kH; ++t) {
    std::vector<double> zn(s.L, 0.0);
    for (int i = 0; i < s.L; ++i) {
      double e = -s.g[i];
      for (int j = 0; j < s.L; ++j) e += s.M[i * s.L + j] * z[j];
      for (int j = 0; j < s.A; ++j) e += s.N[i * s.A + j] * a[t * s.A + j];
      out.push_back(e);
      for (int j = 0; j < s.L; ++j) zn[i] += s.F[i * s.L + j] * z[j];
      for (int j = 0; j < s.A; ++j) zn[i] += s.G[i * s.A + j] * a[t * s.A + j];
    }
    for (int j = 0; j < s.A; ++j) out.push_back(std::sqrt(s.beta) * a[t * s.A + j]);
    z = zn;
  }
  return out;
}

// argmin |C a + d|^2 by the normal equations (Gaussian elimination with partial pivoting).
std::vector<double> lq_optimum(const LinearModelSpec& s) {
  const int n = kH * s.A;
  const std::vector<double> d = residual(s, std::vector<double>(n, 0.0));
  std::vector<std::vector<double>> C(n);
  for (int k = 0; k < n; ++k) {
    std::vector<double> e(n, 0.0);
    e[k] = 1.0;
    const std::vector<double> r = residual(s, e);
    for (std::size_t i = 0; i < r.size(); ++i) C[k].push_back(r[i] - d[i]);
  }
  std::vector<std::vector<double>> P(n, std::vector<double>(n + 1, 0.0));
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j)
      for (std::size_t m = 0; m < d.size(); ++m) P[i][j] += C[i][m] * C[j][m];
    for (std::size_t m = 0; m < d.size(); ++m) P[i][n] -= C[i][m] * d[m];
  }
  for (int c = 0; c < n; ++c) {
    int piv = c;
    for (int r = c + 1; r < n; ++r)
      if (std::fabs(P[r][c]) > std::fabs(P[piv][c])) piv = r;
    std::swap(P[c], P[piv]);
    for (int r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = P[r][c] / P[c][c];
      for (int k = c; k <= n; ++k) P[r][k] -= f * P[c][k];
    }
  }
  std::vector<double> a(n);
  for (int i = 0; i < n; ++i) a[i] = P[i][n] / P[i][i];
  return a;
}

PlannerConfig lq_config(const std::string& name) {
  PlannerConfig c = planner_defaults(name);
  c.action_dim = 2;
  c.latent_dim = 2;
  c.horizon = kH;
  c.discount = 1.f;
  return c;
}

Tensor lq_obs() { return Tensor::from(kZ0, Shape{1, 2}); }

TEST(LinearQuadratic, OptimumIsInsideTheActionBox) {
  const std::vector<double> a = lq_optimum(lq_spec());
  for (double v : a) EXPECT_LT(std::fabs(v), 0.9);
  // Sanity of the reference: the residual gradient vanishes there (perturbing raises the cost).
  auto cost = [](const std::vector<double>& x) {
    double c = 0.0;
    for (double r : residual(lq_spec(), x)) c += r * r;
    return c;
  };
  for (std::size_t k = 0; k < a.size(); ++k) {
    std::vector<double> up = a, dn = a;
    up[k] += 1e-3, dn[k] -= 1e-3;
    EXPECT_GT(cost(up), cost(a));
    EXPECT_GT(cost(dn), cost(a));
  }
}

TEST(GradMpc, ReachesTheAnalyticOptimalFirstAction) {
  LinearModel model(lq_spec());
  PlannerConfig c = lq_config("grad-mpc");
  c.num_samples = 16;
  c.iterations = 1000;
  auto planner = make_planner(c);
  EXPECT_EQ(planner->name(), "grad-mpc");
  planner->allocate(1);
  Rng rng(3);
  const Tensor a = planner->plan(model, lq_obs(), rng, true);
  const std::vector<double> opt = lq_optimum(model.spec());
  EXPECT_NEAR(a.data()[0], opt[0], 1e-2);
  EXPECT_NEAR(a.data()[1], opt[1], 1e-2);
  // The objective rose from the random start to the optimum.
  const auto& trace = static_cast<GradMpc&>(*planner).value_trace();
  ASSERT_EQ(trace.size(), 1001u);
  EXPECT_GT(trace.back(), trace.front() + 0.1f);
}

TEST(PolicyGradMpc, StartsFromThePolicyAndReachesTheOptimum) {
  LinearModel model(lq_spec());
  PlannerConfig c = lq_config("policy-grad-mpc");
  c.num_pi_trajs = 1;
  c.iterations = 1000;
  auto planner = make_planner(c);
  planner->allocate(1);
  Rng rng(5);
  const Tensor a = planner->plan(model, lq_obs(), rng, true);
  const std::vector<double> opt = lq_optimum(model.spec());
  EXPECT_NEAR(a.data()[0], opt[0], 1e-2);
  EXPECT_NEAR(a.data()[1], opt[1], 1e-2);

  // With no steps the single candidate is the policy mean, tanh(0) = 0.
  c.iterations = 0;
  auto zero_steps = make_planner(c);
  zero_steps->allocate(1);
  const Tensor a0 = zero_steps->plan(model, lq_obs(), rng, true);
  EXPECT_EQ(a0.data()[0], 0.f);
  EXPECT_EQ(a0.data()[1], 0.f);
}

TEST(DreamMpc, DefaultsAreThePapers) {
  const PlannerConfig c = planner_defaults("dream-mpc");
  EXPECT_EQ(c.num_pi_trajs, 5);
  EXPECT_EQ(c.iterations, 1);
  EXPECT_EQ(c.horizon, 3);
  EXPECT_FLOAT_EQ(c.mpc_lr, 0.1f);
  EXPECT_FLOAT_EQ(c.regularization_coefficient, 0.01f);
  EXPECT_FLOAT_EQ(c.action_reusage_coefficient, 0.1f);
  EXPECT_FLOAT_EQ(c.grad_clip_norm, 20.f);
  PlannerConfig big = c;
  big.action_dim = 21;
  EXPECT_EQ(DreamMpc(big).iterations(), 3);  // +2 when action_dim >= 20
}

TEST(DreamMpc, ReachesTheAnalyticOptimalFirstActionWithEnoughIterations) {
  LinearModel model(lq_spec());
  PlannerConfig c = lq_config("dream-mpc");
  c.iterations = 1000;
  auto planner = make_planner(c);
  EXPECT_EQ(planner->name(), "dream-mpc");
  planner->allocate(1);
  Rng rng(11);
  const Tensor a = planner->plan(model, lq_obs(), rng, true);
  const std::vector<double> opt = lq_optimum(model.spec());
  EXPECT_NEAR(a.data()[0], opt[0], 1e-2);
  EXPECT_NEAR(a.data()[1], opt[1], 1e-2);
  // Every stored candidate converged to the same (clamped) optimal sequence.
  const auto& dm = static_cast<DreamMpc&>(*planner);
  for (int t = 0; t < kH; ++t)
    for (int n = 0; n < 5; ++n)
      for (int j = 0; j < 2; ++j) EXPECT_NEAR(dm.candidates()[(t * 5 + n) * 2 + j], opt[t * 2 + j], 1e-2);
}

TEST(DreamMpc, WarmStartBlendsTheShiftedPreviousCandidatesWithThePrior) {
  LinearModel model(lq_spec());
  PlannerConfig c = lq_config("dream-mpc");
  c.action_reusage_coefficient = 0.1f;
  DreamMpc planner(c);
  planner.allocate(1);
  Rng rng(21);
  const int N = 5, A = 2, H = kH;
  const std::size_t step = static_cast<std::size_t>(N) * A;
  // The prior of the linear model is tanh(eps) with eps the planner's first H draws.
  auto prior_of = [&](Rng r) {
    std::vector<float> p(H * step);
    for (int t = 0; t < H; ++t) {
      r.normal(p.data() + t * step, step);
      for (std::size_t i = 0; i < step; ++i) p[t * step + i] = std::tanh(p[t * step + i]);
    }
    return p;
  };
  std::vector<float> prior = prior_of(rng);
  planner.plan(model, lq_obs(), rng, false);
  for (std::size_t i = 0; i < prior.size(); ++i)  // first call of an episode: the prior alone
    EXPECT_FLOAT_EQ(planner.initial_candidates()[i], prior[i]);
  const std::vector<float> stored = planner.candidates();
  for (float v : stored) EXPECT_LE(std::fabs(v), 1.f);

  prior = prior_of(rng);
  planner.plan(model, lq_obs(), rng, false);
  for (int t = 0; t < H; ++t)
    for (std::size_t i = 0; i < step; ++i) {
      const float shifted = stored[std::min(t + 1, H - 1) * step + i];  // last action duplicated
      EXPECT_NEAR(planner.initial_candidates()[t * step + i], 0.1f * shifted + 0.9f * prior[t * step + i],
                  1e-6f);
    }

  planner.reset();  // a new episode drops the warm start
  prior = prior_of(rng);
  planner.plan(model, lq_obs(), rng, false);
  for (std::size_t i = 0; i < prior.size(); ++i) EXPECT_FLOAT_EQ(planner.initial_candidates()[i], prior[i]);
}

// 1-D: the reward wants a = 0.5, so z_1 = a; the value ensemble disagrees for |z - 0.5| < 0.25.
LinearModelSpec bump_spec() {
  LinearModelSpec s;
  s.L = 1, s.A = 1;
  s.F = {1.f}, s.G = {1.f}, s.M = {0.f}, s.N = {1.f}, s.g = {0.5f};
  s.bump_center = {0.5f};
  s.bump_radius = 0.25f;
  s.bump_height = 10.f;
  return s;
}

// Over many episodes, how often the candidate Dream-MPC picks (by J, before its step) lies in the
// bump; calls where every candidate is inside are skipped (there is nothing to avoid then).
int picks_inside_bump(float lambda, int* avoidable) {
  LinearModel model(bump_spec());
  PlannerConfig c = planner_defaults("dream-mpc");
  c.action_dim = 1, c.latent_dim = 1, c.horizon = 1, c.discount = 1.f;
  c.mpc_lr = 0.01f;
  c.regularization_coefficient = lambda;
  DreamMpc planner(c);
  planner.allocate(1);
  Rng rng(7);
  const Tensor obs = Tensor::zeros(Shape{1, 1});
  int inside = 0;
  *avoidable = 0;
  for (int call = 0; call < 40; ++call) {
    planner.reset();
    planner.plan(model, obs, rng, true);
    const auto& init = planner.initial_candidates();
    const auto& value = planner.values();
    int k = 0, outside = 0;
    for (int n = 0; n < 5; ++n) {
      if (value[n] > value[k]) k = n;
      outside += model.bump(&init[n]) == 0.f;
    }
    if (outside == 0) continue;
    ++*avoidable;
    inside += model.bump(&init[k]) != 0.f;
  }
  return inside;
}

TEST(DreamMpc, UncertaintyPenaltyAvoidsWhereTheEnsembleDisagrees) {
  int avoidable0 = 0, avoidable1 = 0;
  const int inside_without = picks_inside_bump(0.f, &avoidable0);
  const int inside_with = picks_inside_bump(1.f, &avoidable1);
  ASSERT_GT(avoidable1, 10);
  EXPECT_GT(inside_without, 5);  // without the penalty the reward pulls the choice into the bump
  EXPECT_EQ(inside_with, 0);
}

TEST(DreamMpc, UncertaintyChangesJButNotTheGradient) {
  // Same seed, lambda 0 and 1, candidates inside the bump: identical steps, different J.
  LinearModel model(bump_spec());
  auto ag = model.make_action_gradient();
  ag->reserve(3, 1);
  const float z0[3] = {0.f, 0.f, 0.f}, a[3] = {0.5f, 0.9f, -0.5f};
  float v0[3], v1[3], g0[3], g1[3];
  models::RolloutObjective obj;
  obj.terminal_value = true;
  ag->evaluate(z0, a, 3, obj, v0, g0);
  obj.uncertainty_coef = 1.f;
  ag->evaluate(z0, a, 3, obj, v1, g1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(g0[i], g1[i]);
  EXPECT_LT(v1[0], v0[0] - 1.f);  // inside the bump: penalised
  EXPECT_EQ(v1[1], v0[1]);        // outside: unchanged
}

TEST(LinearModel, HandWrittenGradientMatchesFiniteDifferences) {
  LinearModel model(lq_spec());
  auto ag = model.make_action_gradient();
  ag->reserve(2, kH);
  std::vector<float> z0 = {0.3f, -0.2f, 0.1f, 0.4f};
  std::vector<float> a(kH * 2 * 2);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = 0.1f * static_cast<float>(i % 7) - 0.3f;
  models::RolloutObjective obj;
  obj.horizon = kH;
  obj.discount = 0.9f;
  std::vector<float> v(2), g(a.size()), vp(2), vm(2);
  ag->evaluate(z0.data(), a.data(), 2, obj, v.data(), g.data());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const float h = 1e-2f;
    std::vector<float> ap = a, am = a;
    ap[i] += h, am[i] -= h;
    ag->evaluate(z0.data(), ap.data(), 2, obj, vp.data(), nullptr);
    ag->evaluate(z0.data(), am.data(), 2, obj, vm.data(), nullptr);
    const int row = static_cast<int>((i / 2) % 2);
    EXPECT_NEAR(g[i], (vp[row] - vm[row]) / (2 * h), 2e-3) << "action " << i;
  }
}

TEST(Cem, ImprovesJOverItsIterationsAndFindsTheOptimum) {
  LinearModel model(lq_spec());
  PlannerConfig c = lq_config("cem");
  c.num_samples = 400;
  c.num_elites = 40;
  c.iterations = 12;
  c.min_std = 0.01f;
  auto planner = make_planner(c);
  EXPECT_EQ(planner->name(), "cem");
  planner->allocate(1);
  Rng rng(9);
  const Tensor a = planner->plan(model, lq_obs(), rng, true);
  const auto& trace = static_cast<Cem&>(*planner).elite_value_trace();
  ASSERT_EQ(trace.size(), 12u);
  EXPECT_GT(trace.back(), trace.front());
  for (std::size_t i = 1; i < trace.size(); ++i)
    EXPECT_GE(trace[i], trace[i - 1] - 0.02f) << "iteration " << i;
  const std::vector<double> opt = lq_optimum(model.spec());
  EXPECT_NEAR(a.data()[0], opt[0], 0.05);
  EXPECT_NEAR(a.data()[1], opt[1], 0.05);
}

TEST(Factory, KnowsTheGradientPlanners) {
  const auto names = planner_names();
  for (const char* n : {"dream-mpc", "grad-mpc", "policy-grad-mpc", "cem"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  PlannerConfig bad = planner_defaults("dream-mpc");
  bad.num_pi_trajs = 0;
  EXPECT_THROW(make_planner(bad), ConfigError);
}

}  // namespace
}  // namespace lucid::planners
