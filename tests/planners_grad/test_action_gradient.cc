// The fused TD-MPC2 action gradient (models/tdmpc2/action_gradient.cc) against the engine's tape.
//
// The same objective, J = sum_t gamma^t R(z_t, a_t) + gamma^H mean_heads Q(z_H, tanh(mu + eps std)),
// is built from engine ops (linear, layernorm, mish, simnorm, two_hot_inv) on copies of the
// model's weights, and lucid::grad gives dJ/da; the fused path must agree to 1e-5. Every weight
// is randomised (TD-MPC2's init zeroes the reward and Q output layers, which would make the
// gradient trivially zero). Also: the uncertainty term against value_ensemble, and no heap
// allocation in Dream-MPC's plan() after warm-up (alloc_counter.h).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "alloc_counter.h"
#include "lucid/engine/autograd.h"
#include "lucid/engine/ops.h"
#include "lucid/engine/rng.h"
#include "lucid/kernels/gemm_small.h"
#include "lucid/kernels/threading.h"
#include "lucid/models/action_gradient.h"
#include "lucid/models/tdmpc2/model.h"
#include "lucid/planners/dream_mpc.h"
#include "lucid_test.h"

namespace lucid::models::tdmpc2 {
namespace {

constexpr int kObs = 6, kA = 3, kH = 3, kRows = 7;  // 7 rows: a 4-row block and a 3-row tail

Tdmpc2Config small_config() {
  Tdmpc2Config c;
  c.obs_dim = kObs;
  c.action_dim = kA;
  c.enc_dim = 32;
  c.mlp_dim = 40;
  c.latent_dim = 16;
  c.num_q = 5;
  c.dropout = 0.f;
  return c;
}

// Official init, then every tensor randomised so that no gradient path is zero.
void randomise(Tdmpc2Model& model, std::uint64_t seed) {
  Rng rng(seed);
  model.init(rng);
  for (const ParamEntry& e : model.layout().layout.entries()) {
    float* p = model.params().data() + e.offset;
    rng.normal(p, e.numel);
    const float scale = e.kind == ParamKind::kWeight ? 0.35f : 0.1f;
    for (std::size_t i = 0; i < e.numel; ++i)
      p[i] = (e.kind == ParamKind::kNormGain ? 1.f : 0.f) + scale * p[i];
  }
}

Tensor tape_mlp(const Mlp& m, const Tdmpc2Model& model, Tensor x) {
  const float* base = model.block(m);
  auto copy = [&](std::size_t off, std::int64_t n) { return std::vector<float>(base + off, base + off + n); };
  for (const LayerSpec& s : m.layers()) {
    x = linear(x, Tensor::from(copy(s.w, std::int64_t{s.out} * s.in), Shape{s.out, s.in}),
               Tensor::from(copy(s.b, s.out), Shape{s.out}));
    if (s.norm)
      x = layernorm(x, Tensor::from(copy(s.gamma, s.out), Shape{s.out}),
                    Tensor::from(copy(s.beta, s.out), Shape{s.out}));
    if (s.act == Activation::kMish) x = mish(x);
    if (s.act == Activation::kSimNorm) x = simnorm(x, m.simnorm_dim());
  }
  return x;
}

struct TapeResult {
  std::vector<float> value, grad;  // (rows); (H, rows, A)
  std::vector<Tensor> z;           // z_1 .. z_H (detached)
  Tensor a_h;                      // pi(z_H)
};

TapeResult tape_objective(const Tdmpc2Model& model, const std::vector<float>& z0,
                          const std::vector<float>& actions, const std::vector<float>& eps,
                          std::vector<int> heads, float discount) {
  const Tdmpc2Config& c = model.config();
  const Tdmpc2Layout& lay = model.layout();
  const TwoHotSpec spec{c.num_bins, c.vmin, c.vmax};
  std::vector<Tensor> a;
  for (int t = 0; t < kH; ++t) {
    std::vector<float> at(actions.begin() + t * kRows * kA, actions.begin() + (t + 1) * kRows * kA);
    a.push_back(Tensor::from(at, Shape{kRows, kA}).set_requires_grad());
  }
  Tensor z = Tensor::from(z0, Shape{kRows, c.latent_dim});
  Tensor J;
  TapeResult res;
  float disc = 1.f;
  for (int t = 0; t < kH; ++t) {
    const Tensor za = concat({z, a[t]}, -1);
    const Tensor r = mul(two_hot_inv(tape_mlp(lay.reward, model, za), spec), disc);
    J = t == 0 ? r : add(J, r);
    z = tape_mlp(lay.dynamics, model, za);
    res.z.push_back(z.detach());
    disc *= discount;
  }
  const Tensor out = tape_mlp(lay.pi, model, z);
  const Tensor mu = slice(out, -1, 0, kA), raw = slice(out, -1, kA, 2 * kA);
  const float dif = c.log_std_max - c.log_std_min;
  const Tensor log_std = add(mul(add(tanh(raw), 1.f), 0.5f * dif), c.log_std_min);
  const Tensor a_h = tanh(add(mu, mul(Tensor::from(eps, Shape{kRows, kA}), exp(log_std))));
  res.a_h = a_h.detach();
  const Tensor zah = concat({z, a_h}, -1);
  for (int h : heads)
    J = add(J,
            mul(two_hot_inv(tape_mlp(lay.q[h], model, zah), spec), disc / static_cast<float>(heads.size())));
  const std::vector<Tensor> g = grad({sum(J)}, a);
  res.value.assign(J.data(), J.data() + kRows);
  for (const Tensor& gt : g) res.grad.insert(res.grad.end(), gt.data(), gt.data() + kRows * kA);
  return res;
}

struct Fixture {
  Tdmpc2Model model{small_config()};
  std::vector<float> z0, actions, eps;
  Fixture() {
    randomise(model, 17);
    Rng rng(4);
    std::vector<float> obs(kRows * kObs);
    rng.normal(obs.data(), obs.size());
    const Tensor z = model.encode(Tensor::from(obs, Shape{kRows, kObs}));
    z0.assign(z.data(), z.data() + z.numel());
    actions.resize(kH * kRows * kA);
    rng.normal(actions.data(), actions.size());
    for (float& v : actions) v = std::tanh(v);
    eps.resize(kRows * kA);
    rng.normal(eps.data(), eps.size());
  }
};

class Tdmpc2ActionGradientIsa : public ::testing::TestWithParam<kernels::GemmIsa> {
 protected:
  void SetUp() override {
    if (!kernels::gemm_small_cpu_has(GetParam())) GTEST_SKIP() << "this CPU lacks these instructions";
    kernels::gemm_small_cap_isa(GetParam());
  }
  void TearDown() override { kernels::gemm_small_cap_isa(kernels::GemmIsa::avx512); }
};

// Each GEMM micro-kernel (AVX-512, AVX2/FMA, portable loops).
TEST_P(Tdmpc2ActionGradientIsa, EqualsTheTapeGradientWithRespectToTheActions) {
  Fixture f;
  const std::vector<int> heads = {1, 3};
  const TapeResult ref = tape_objective(f.model, f.z0, f.actions, f.eps, heads, 0.9f);
  auto ag = make_action_gradient(f.model);
  ag->reserve(kRows, kH);
  RolloutObjective obj;
  obj.horizon = kH;
  obj.discount = 0.9f;
  obj.terminal_value = true;
  obj.heads = heads;
  obj.terminal_eps = f.eps.data();
  std::vector<float> value(kRows), g(f.actions.size());
  ag->evaluate(f.z0.data(), f.actions.data(), kRows, obj, value.data(), g.data());
  EXPECT_TRUE(testing::all_close(value.data(), ref.value.data(), kRows, 1e-5, 1e-5));
  EXPECT_TRUE(testing::all_close(g.data(), ref.grad.data(), g.size(), 1e-5, 1e-5));
  double norm = 0.0;
  for (float v : ref.grad) norm += v * v;
  EXPECT_GT(norm, 1e-4);  // a non-trivial gradient
  EXPECT_GT(ag->gemm_flops(), 0u);

  // Forward only gives the same values; the mean policy action (no eps) too.
  std::vector<float> value2(kRows);
  ag->evaluate(f.z0.data(), f.actions.data(), kRows, obj, value2.data(), nullptr);
  EXPECT_EQ(value, value2);
  const std::vector<float> zeros(kRows * kA, 0.f);
  const TapeResult ref_mean = tape_objective(f.model, f.z0, f.actions, zeros, heads, 0.9f);
  obj.terminal_eps = nullptr;
  ag->evaluate(f.z0.data(), f.actions.data(), kRows, obj, value.data(), g.data());
  EXPECT_TRUE(testing::all_close(g.data(), ref_mean.grad.data(), g.size(), 1e-5, 1e-5));
}
// At planning widths the input backward splits dx's columns over the threads; every element is
// the same dot product in the same order either way, so 2 threads must give 1 thread's bits, for
// every row count (the 5-row pass and the 4 + 1..3 blocks) and both column tails.
TEST_P(Tdmpc2ActionGradientIsa, TwoThreadsGiveTheOneThreadGradientBitForBit) {
  Tdmpc2Config c = small_config();
  c.mlp_dim = 250;    // the 250 x 250 layers pass the threading threshold from 3 rows on, and
  c.latent_dim = 64;  // split 128 + 122 (a 2-column tail); the 67-wide inputs stay on one thread
  Tdmpc2Model model(c);
  randomise(model, 23);
  const int saved = kernels::num_threads();
  const std::vector<int> heads = {0, 2};
  for (int rows = 1; rows <= kRows; ++rows) {
    Rng rng(static_cast<std::uint64_t>(rows));
    const auto n = static_cast<std::size_t>(rows);
    std::vector<float> obs(n * kObs), actions(n * kH * kA), eps(n * kA);
    rng.normal(obs.data(), obs.size());
    rng.normal(actions.data(), actions.size());
    rng.normal(eps.data(), eps.size());
    const Tensor z = model.encode(Tensor::from(obs, Shape{rows, kObs}));
    RolloutObjective obj;
    obj.horizon = kH;
    obj.discount = 0.9f;
    obj.terminal_value = true;
    obj.heads = heads;
    obj.terminal_eps = eps.data();
    std::vector<float> g1(actions.size()), g2(actions.size()), v1(n), v2(n);
    for (int threads : {1, 2}) {
      kernels::set_num_threads(threads);
      auto ag = make_action_gradient(model);
      ag->reserve(rows, kH);
      ag->evaluate(z.data(), actions.data(), rows, obj, threads == 1 ? v1.data() : v2.data(),
                   threads == 1 ? g1.data() : g2.data());
    }
    EXPECT_EQ(g1, g2) << rows << " rows";
    EXPECT_EQ(v1, v2) << rows << " rows";
    double norm = 0.0;
    for (float v : g1) norm += double{v} * v;
    EXPECT_GT(norm, 1e-6) << rows << " rows";
  }
  kernels::set_num_threads(saved);
}

INSTANTIATE_TEST_SUITE_P(Kernels, Tdmpc2ActionGradientIsa,
                         ::testing::Values(kernels::GemmIsa::avx512, kernels::GemmIsa::avx2,
                                           kernels::GemmIsa::generic),
                         [](const ::testing::TestParamInfo<kernels::GemmIsa>& i) {
                           return i.param == kernels::GemmIsa::avx512 ? "avx512"
                                  : i.param == kernels::GemmIsa::avx2 ? "avx2"
                                                                      : "generic";
                         });

TEST(Tdmpc2ActionGradient, UncertaintyIsMeanTimesStdOverTheEnsembleWithoutGradient) {
  Fixture f;
  const std::vector<int> heads = {0, 4};
  const TapeResult ref = tape_objective(f.model, f.z0, f.actions, f.eps, heads, 0.95f);
  auto ag = make_action_gradient(f.model);
  ag->reserve(kRows, kH);
  RolloutObjective obj;
  obj.horizon = kH;
  obj.discount = 0.95f;
  obj.terminal_value = true;
  obj.heads = heads;
  obj.terminal_eps = f.eps.data();
  obj.uncertainty_coef = 0.5f;
  std::vector<float> value(kRows), g(f.actions.size());
  ag->evaluate(f.z0.data(), f.actions.data(), kRows, obj, value.data(), g.data());
  EXPECT_TRUE(testing::all_close(g.data(), ref.grad.data(), g.size(), 1e-5, 1e-5));  // u has no gradient
  // u(z_{t+1}, a_t) for t < H and u(z_H, pi(z_H)), from the model's own ensemble query.
  std::vector<float> expect = ref.value;
  const int K = f.model.config().num_q;
  auto subtract_u = [&](const Tensor& z, const Tensor& a) {
    const Tensor vs = f.model.value_ensemble(z, a);
    for (int r = 0; r < kRows; ++r) {
      double mean = 0.0, var = 0.0;
      for (int k = 0; k < K; ++k) mean += vs.data()[k * kRows + r] / K;
      for (int k = 0; k < K; ++k)
        var += (vs.data()[k * kRows + r] - mean) * (vs.data()[k * kRows + r] - mean);
      expect[r] -= static_cast<float>(0.5 * mean * std::sqrt(var / (K - 1)));
    }
  };
  for (int t = 0; t < kH; ++t) {
    std::vector<float> at(f.actions.begin() + t * kRows * kA, f.actions.begin() + (t + 1) * kRows * kA);
    subtract_u(ref.z[t], Tensor::from(at, Shape{kRows, kA}));
  }
  subtract_u(ref.z.back(), ref.a_h);
  EXPECT_TRUE(testing::all_close(value.data(), expect.data(), kRows, 1e-5, 1e-4));
  for (int r = 0; r < kRows; ++r) EXPECT_NE(value[r], ref.value[r]);
}

TEST(Tdmpc2ActionGradient, PolicyRolloutMatchesTheWorldModelQueries) {
  Fixture f;
  auto ag = make_action_gradient(f.model);
  ag->reserve(kRows, kH);
  std::vector<float> eps(kH * kRows * kA), got(eps.size());
  Rng rng(8);
  rng.normal(eps.data(), eps.size());
  ag->policy_rollout(f.z0.data(), eps.data(), kRows, kH, got.data());
  Tensor z = Tensor::from(f.z0, Shape{kRows, f.model.config().latent_dim});
  for (int t = 0; t < kH; ++t) {
    const std::vector<float> et(eps.begin() + t * kRows * kA, eps.begin() + (t + 1) * kRows * kA);
    const Tensor a = Tensor::empty(Shape{kRows, kA});
    f.model.policy_action_into(z, Tensor::from(et, Shape{kRows, kA}), a);
    EXPECT_TRUE(testing::all_close(got.data() + t * kRows * kA, a.data(), kRows * kA, 1e-5, 1e-5))
        << "step " << t;
    z = f.model.next(z, a);
  }
}

// plan-bench counts FLOPs from model evaluations; the fused path's own GEMM count must agree.
TEST(Tdmpc2ActionGradient, GemmFlopsAreOneForwardAndOneInputBackwardPerEvaluation) {
  Fixture f;
  auto ag = make_action_gradient(f.model);
  ag->reserve(kRows, kH);
  auto row = [](const Mlp& m) {
    std::uint64_t n = 0;
    for (const LayerSpec& l : m.layers()) n += 2ull * l.in * l.out;
    return n;
  };
  const Tdmpc2Layout& lay = f.model.layout();
  const std::uint64_t K = f.model.config().num_q, q = row(lay.q.front());
  const std::uint64_t path = kRows * (kH * (row(lay.reward) + row(lay.dynamics)) + row(lay.pi) + 2 * q);
  const std::vector<int> heads = {0, 2};
  RolloutObjective obj;
  obj.horizon = kH;
  obj.terminal_value = true;
  obj.heads = heads;
  obj.uncertainty_coef = 0.01f;
  std::vector<float> value(kRows), g(f.actions.size());
  const std::uint64_t f0 = ag->gemm_flops();
  ag->evaluate(f.z0.data(), f.actions.data(), kRows, obj, value.data(), g.data());
  // With the penalty on, the terminal heads' forward is part of the ensemble batch.
  EXPECT_EQ(ag->gemm_flops() - f0, 2 * path - kRows * 2 * q + kRows * (kH + 1) * K * q);
  obj.uncertainty_coef = 0.f;
  const std::uint64_t f1 = ag->gemm_flops();
  ag->evaluate(f.z0.data(), f.actions.data(), kRows, obj, value.data(), g.data());
  EXPECT_EQ(ag->gemm_flops() - f1, 2 * path);
}

TEST(DreamMpcOnTdmpc2, PlanAllocatesNothingAfterWarmUp) {
  Fixture f;
  planners::PlannerConfig c = planners::planner_defaults("dream-mpc");
  c.action_dim = kA;
  c.latent_dim = f.model.config().latent_dim;
  planners::DreamMpc planner(c);
  planner.allocate(2);
  Rng rng(1);
  std::vector<float> obs(2 * kObs, 0.3f);
  const Tensor obs1 = Tensor::from(std::vector<float>(obs.begin(), obs.begin() + kObs), Shape{1, kObs});
  for (int i = 0; i < 2; ++i) planner.plan(f.model, obs1, rng, false);
  const long long before = testing::allocation_count();
  for (int i = 0; i < 5; ++i) {
    const Tensor a = planner.plan(f.model, obs1, rng, i % 2 == 0);
    for (int j = 0; j < kA; ++j) EXPECT_LE(std::fabs(a.data()[j]), 1.f);
  }
  EXPECT_EQ(testing::allocation_count() - before, 0);
}

}  // namespace
}  // namespace lucid::models::tdmpc2
