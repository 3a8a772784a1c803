// nn: the parameter arena's layout, TD-MPC2 init, layer layouts (parameter counts from
// facts/tdmpc2.md §1.2) and the stacked Ensemble against separate Mlps.
#include <gtest/gtest.h>

#include <cmath>

#include "gradcheck.h"
#include "lucid/engine/autograd.h"
#include "lucid/engine/nn.h"
#include "lucid/engine/ops.h"
#include "lucid/engine/rng.h"
#include "lucid/error.h"
#include "lucid_test.h"

namespace lucid::nn {
namespace {

using lucid::testing::all_close;
using lucid::testing::uniform_tensor;

TEST(ParamArena, OneBlockAlignedViewsAndGradsInTheGradBlock) {
  ParamArena arena;
  const std::size_t a = arena.declare("a", {3, 5});
  const std::size_t b = arena.declare("b", {7});
  EXPECT_THROW(arena.declare("a", {1}), Error);
  arena.allocate();
  EXPECT_THROW(arena.declare("c", {1}), Error);
  EXPECT_EQ(arena.views()[0].offset, 0u);
  EXPECT_EQ(arena.views()[1].offset, 16u);  // 15 floats padded to 64 bytes
  EXPECT_EQ(arena.size(), 32u);
  EXPECT_EQ(arena.num_params(), 22u);
  EXPECT_EQ(arena.param(b).data(), arena.params().data() + 16);
  EXPECT_EQ(arena.param(a).grad().data(), arena.grads().data());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(arena.param(b).data()) % 64, 0u);

  // A backward lands in the grad block; a parameter write is visible through the span.
  Tensor x = uniform_tensor({2, 5}, -1, 1, 1);
  backward(sum(linear(x, arena.param(a), arena.param(b).view_rows(0, 3))));
  float s = 0.f;
  for (float g : arena.grads()) s += std::abs(g);
  EXPECT_GT(s, 0.f);
  const std::uint64_t v = arena.params_tensor().version();
  arena.params()[16] = 5.f;
  arena.bump_version();
  EXPECT_EQ(arena.param(b).data()[0], 5.f);
  EXPECT_GT(arena.param(a).version(), v);  // one version for the whole arena
  arena.zero_grad();
  for (float g : arena.grads()) EXPECT_EQ(g, 0.f);
}

TEST(ParamArena, RangeOfAModuleForOptimizerGroups) {
  ParamArena arena;
  Mlp enc(arena, "enc", {.in = 4, .hidden = {8}, .out = 8, .out_act = Activation::kSimNorm});
  arena.declare("other", {3});
  arena.declare("enc_extra", {5});  // shares the "enc" prefix but not "enc."
  arena.allocate();
  const ParamArena::Range r = arena.range("enc.");
  EXPECT_EQ(r.offset, 0u);
  EXPECT_EQ(r.size, arena.views()[*arena.find("other")].offset);
  EXPECT_THROW(arena.range("enc"), Error);  // enc.* and enc_extra are split by "other"
  EXPECT_THROW(arena.range("nope"), Error);
  const ParamArena::Range last = arena.range("enc_extra");
  EXPECT_EQ(last.offset + last.size, arena.size());
}

TEST(Init, TruncNormalHasStd002AndRespectsAbsoluteBounds) {
  Rng rng(3);
  std::vector<float> v(50000);
  trunc_normal(v.data(), v.size(), 0.02f, rng);
  double m = 0, s = 0;
  for (float x : v) m += x;
  m /= v.size();
  for (float x : v) s += (x - m) * (x - m);
  EXPECT_NEAR(m, 0.0, 5e-4);
  EXPECT_NEAR(std::sqrt(s / v.size()), 0.02, 5e-4);
  // Tight bounds (in units of std) do truncate.
  trunc_normal(v.data(), v.size(), 1.f, rng, -0.5f, 0.5f);
  for (float x : v) ASSERT_TRUE(x >= -0.5f && x <= 0.5f);
}

// TD-MPC2 5M with obs 24, act 6 (facts/tdmpc2.md §1.2 gives these counts).
TEST(Mlp, Tdmpc2LayoutsMatchTheReferenceParameterCounts) {
  ParamArena arena;
  Mlp enc(arena, "enc",
          {.in = 24, .hidden = {256}, .out = 512, .out_act = Activation::kSimNorm, .dropout = 0.f});
  const std::size_t after_enc = arena.num_params();
  Mlp dyn(arena, "dyn",
          {.in = 518, .hidden = {512, 512}, .out = 512, .out_act = Activation::kSimNorm, .dropout = 0.f});
  const std::size_t after_dyn = arena.num_params();
  Mlp rew(arena, "rew",
          {.in = 518, .hidden = {512, 512}, .out = 101, .out_act = std::nullopt, .dropout = 0.f});
  const std::size_t after_rew = arena.num_params();
  Ensemble q(arena, "q", 5,
             {.in = 518, .hidden = {512, 512}, .out = 101, .out_act = std::nullopt, .dropout = 0.01f});
  const std::size_t after_q = arena.num_params();
  EXPECT_EQ(after_enc, 139520u);
  EXPECT_EQ(after_dyn - after_enc, 794112u);
  EXPECT_EQ(after_rew - after_dyn, 582245u);
  EXPECT_EQ(after_q - after_rew, 2911225u);
  EXPECT_TRUE(arena.find("dyn.0.ln.weight").has_value());
  EXPECT_TRUE(arena.find("rew.2.weight").has_value());
  EXPECT_FALSE(arena.find("rew.2.ln.weight").has_value());  // plain Linear output
}

TEST(Mlp, MisuseIsAClearError) {
  ParamArena arena;
  Linear l(arena, "l", 3, 2);
  EXPECT_THROW(l.weight(), Error);  // before allocate()
  EXPECT_THROW(Linear().forward(Tensor::zeros({1, 3})), Error);
  arena.allocate();
  EXPECT_THROW(l.forward(Tensor::zeros({1, 4})), ShapeError);
}

TEST(Mlp, InitAndForwardShapes) {
  ParamArena arena;
  Mlp m(arena, "m",
        {.in = 10, .hidden = {32, 32}, .out = 16, .out_act = Activation::kSimNorm, .dropout = 0.f});
  arena.allocate();
  Rng rng(1);
  m.init(rng);
  const Tensor& ln = arena.param(*arena.find("m.0.ln.weight"));
  EXPECT_EQ(ln.data()[0], 1.f);
  EXPECT_EQ(arena.param(*arena.find("m.0.bias")).data()[3], 0.f);
  Tensor y = m.forward(uniform_tensor({4, 10}, -1, 1, 2));
  EXPECT_EQ(y.shape(), (Shape{4, 16}));
  float s = 0.f;
  for (int k = 0; k < 8; ++k) s += y.data()[k];
  EXPECT_NEAR(s, 1.f, 1e-5);  // SimNorm output: groups of 8 sum to one
}

TEST(Ensemble, EqualsSeparateMlpsWithTheSameWeights) {
  const int E = 3;
  const MlpSpec spec{.in = 6, .hidden = {8, 8}, .out = 5, .out_act = std::nullopt, .dropout = 0.f};
  ParamArena stacked;
  Ensemble ens(stacked, "q", E, spec);
  stacked.allocate();
  Rng rng(5);
  ens.init(rng);
  // Randomise LN params too, so a mix-up between members would show.
  for (const auto& v : stacked.views()) {
    Tensor t = stacked.param(*stacked.find(v.name));
    Tensor r = uniform_tensor(v.shape, 0.5f, 1.5f, static_cast<unsigned>(v.offset) + 1);
    t.copy_from(r);
  }
  const Tensor x = uniform_tensor({4, 6}, -1, 1, 9);
  const Tensor y = ens.forward(x);
  ASSERT_EQ(y.shape(), (Shape{E, 4, 5}));
  for (int e = 0; e < E; ++e) {
    ParamArena single;
    Mlp m(single, "q", spec);
    single.allocate();
    for (const auto& v : single.views()) {
      const Tensor src = stacked.param(*stacked.find(v.name))[e];
      single.param(*single.find(v.name)).copy_from(src);
    }
    const Tensor ye = m.forward(x);
    EXPECT_TRUE(all_close(y[e].data(), ye.data(), ye.numel(), 1e-5, 1e-5)) << "member " << e;
  }
}

TEST(Ensemble, GradientsOfAllStackedParametersPassFiniteDifferences) {
  ParamArena arena;
  Ensemble ens(arena, "q", 2,
               {.in = 4, .hidden = {6}, .out = 8, .out_act = Activation::kSimNorm, .dropout = 0.f});
  arena.allocate();
  for (const auto& v : arena.views())
    arena.param(*arena.find(v.name))
        .copy_from(uniform_tensor(v.shape, -0.8f, 0.8f, static_cast<unsigned>(v.offset) + 3));
  const Tensor x = uniform_tensor({3, 4}, -1, 1, 4);
  std::vector<Tensor> params;
  for (std::size_t i = 0; i < arena.views().size(); ++i) params.push_back(arena.param(i));
  // gradcheck perturbs the parameters in place; the Ensemble reads them from the arena.
  EXPECT_TRUE(lucid::testing::gradcheck([&](const std::vector<Tensor>&) { return ens.forward(x); }, params));
}

}  // namespace
}  // namespace lucid::nn
