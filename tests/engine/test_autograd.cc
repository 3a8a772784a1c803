// The tape: accumulation, NoGrad, detach, and grad(outputs, inputs) doing no parameter work.
#include <gtest/gtest.h>

#include "gradcheck.h"
#include "lucid/engine/autograd.h"
#include "lucid/engine/memory.h"
#include "lucid/engine/ops.h"
#include "lucid/error.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using testing::all_close;
using testing::uniform_tensor;

TEST(Autograd, BackwardAccumulatesAcrossCalls) {
  Tensor x = Tensor::from({1.f, 2.f, 3.f}, {3}).set_requires_grad();
  backward(sum(mul(x, x)));
  const std::vector<float> g1 = x.grad().to_vector();
  EXPECT_EQ(g1, (std::vector<float>{2.f, 4.f, 6.f}));
  backward(sum(mul(x, 3.f)));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{5.f, 7.f, 9.f}));
  x.zero_grad();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0.f, 0.f, 0.f}));
}

TEST(Autograd, DiamondSumsBothPaths) {
  // y = x*x + exp(x) reuses x along two paths; the pass-through add must not alias buffers.
  Tensor x = Tensor::from({0.5f, -1.f}, {2}).set_requires_grad();
  Tensor a = add(x, 1.f);
  backward(sum(add(mul(a, a), a)));
  EXPECT_FLOAT_EQ(x.grad().data()[0], 2.f * 1.5f + 1.f);
  EXPECT_FLOAT_EQ(x.grad().data()[1], 2.f * 0.f + 1.f);
}

TEST(Autograd, GradIntoProvidedBufferIsPlusEquals) {
  Tensor w = uniform_tensor({4, 3}, -1, 1, 1).set_requires_grad();
  Tensor buf = Tensor::full({4, 3}, 1.f);
  w.set_grad(buf);
  Tensor x = uniform_tensor({5, 3}, -1, 1, 2);
  backward(sum(linear(x, w)));
  // d sum(x W^T) / dW[o, i] = sum_r x[r, i]
  std::vector<float> col(3, 0.f);
  for (int r = 0; r < 5; ++r)
    for (int i = 0; i < 3; ++i) col[i] += x.data()[r * 3 + i];
  for (int o = 0; o < 4; ++o)
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(buf.data()[o * 3 + i], 1.f + col[i], 1e-5);
  EXPECT_TRUE(w.grad().same(buf));
}

TEST(Autograd, NoGradRecordsNothingAndDetachCutsHistory) {
  Tensor x = Tensor::from({1.f, 2.f}, {2}).set_requires_grad();
  {
    NoGrad ng;
    Tensor y = exp(x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_FALSE(grad_enabled());
  }
  EXPECT_TRUE(grad_enabled());
  Tensor y = mul(exp(x).detach(), x);  // d/dx = exp(x) only through the second factor
  backward(sum(y));
  EXPECT_NEAR(x.grad().data()[0], std::exp(1.f), 1e-5);
  EXPECT_NEAR(x.grad().data()[1], std::exp(2.f), 1e-5);
}

// A small TD-MPC2-like stack: the actions are the input, weights are parameters.
struct TinyModel {
  Tensor w1 = uniform_tensor({16, 8 + 3}, -0.3f, 0.3f, 11).set_requires_grad();
  Tensor b1 = uniform_tensor({16}, -0.1f, 0.1f, 12).set_requires_grad();
  Tensor g1 = uniform_tensor({16}, 0.8f, 1.2f, 13).set_requires_grad();
  Tensor e1 = uniform_tensor({16}, -0.1f, 0.1f, 14).set_requires_grad();
  Tensor w2 = uniform_tensor({101, 16}, -0.3f, 0.3f, 15).set_requires_grad();
  std::vector<Tensor> params() const { return {w1, b1, g1, e1, w2}; }

  Tensor reward(const Tensor& z, const Tensor& a) const {
    Tensor h = layernorm_mish(linear(concat({z, a}, -1), w1, b1), g1, e1);
    return two_hot_inv(linear(h, w2));
  }
};

TEST(Autograd, GradMatchesBackwardAndDoesNoParameterWork) {
  TinyModel m;
  const Tensor z = uniform_tensor({6, 8}, -1, 1, 21);
  Tensor a = uniform_tensor({6, 3}, -1, 1, 22).set_requires_grad();

  // Reference: full backward.
  backward(sum(m.reward(z, a)));
  const Tensor ref = a.grad().clone();
  for (const Tensor& p : m.params()) ASSERT_TRUE(p.grad().defined());
  for (const Tensor& p : m.params()) p.set_grad(Tensor());
  a.set_grad(Tensor());

  reset_autograd_stats();
  const std::vector<Tensor> g = grad({sum(m.reward(z, a))}, {a});
  const AutogradStats s = autograd_stats();
  ASSERT_TRUE(all_close(g[0].data(), ref.data(), ref.numel(), 1e-6, 1e-5));
  EXPECT_EQ(s.weight_grad_gemms, 0u);
  EXPECT_EQ(s.leaf_grads_to_params, 0u);
  EXPECT_EQ(s.unrequested_grads, 0u);
  for (const Tensor& p : m.params()) EXPECT_FALSE(p.grad().defined());
  EXPECT_FALSE(a.grad().defined());  // grad() returns, it does not accumulate

  // The same pass through backward() does do the parameter work: the counters can tell.
  reset_autograd_stats();
  backward(sum(m.reward(z, a)));
  EXPECT_EQ(autograd_stats().weight_grad_gemms, 2u);
  EXPECT_GE(autograd_stats().leaf_grads_to_params, 5u);
}

TEST(Autograd, GradPrunesBranchesThatDoNotReachTheInputs) {
  Tensor p = uniform_tensor({4, 4}, -1, 1, 1).set_requires_grad();
  Tensor x = uniform_tensor({2, 4}, -1, 1, 2).set_requires_grad();
  Tensor side = exp(p);  // depends on a parameter only
  Tensor y = add(sum(linear(x, p)), sum(side));
  reset_autograd_stats();
  const std::vector<Tensor> g = grad({y}, {x});
  // Nodes run: the final add, the two sums and the linear: not exp, not sum(side)'s input.
  EXPECT_EQ(autograd_stats().nodes_run, 3u);
  EXPECT_EQ(autograd_stats().weight_grad_gemms, 0u);
  EXPECT_EQ(g[0].shape(), x.shape());
}

TEST(Autograd, GradWrtIntermediateAndUnusedInputs) {
  Tensor x = Tensor::from({1.f, 2.f}, {2}).set_requires_grad();
  Tensor h = mul(x, 3.f);
  Tensor y = sum(square(h));
  Tensor unused = Tensor::from({5.f}, {1}).set_requires_grad();
  const std::vector<Tensor> g = grad({y}, {h, x, unused});
  EXPECT_EQ(g[0].to_vector(), (std::vector<float>{6.f, 12.f}));   // 2h
  EXPECT_EQ(g[1].to_vector(), (std::vector<float>{18.f, 36.f}));  // 2h * 3
  EXPECT_EQ(g[2].to_vector(), (std::vector<float>{0.f}));
}

TEST(Autograd, NonScalarOutputNeedsAGradient) {
  Tensor x = Tensor::from({1.f, 2.f}, {2}).set_requires_grad();
  EXPECT_THROW(backward(exp(x)), ShapeError);
  backward(exp(x), Tensor::from({1.f, 0.f}, {2}));
  EXPECT_NEAR(x.grad().data()[0], std::exp(1.f), 1e-5);
  EXPECT_EQ(x.grad().data()[1], 0.f);
}

// A whole forward/backward in a per-step arena: parameters (allocated before) get their
// gradients in place, every temporary comes from the arena, and the arena resets afterwards.
TEST(Autograd, StepInsideAnArenaLeavesNothingBehind) {
  Tensor w = uniform_tensor({8, 6}, -1, 1, 1).set_requires_grad();
  w.set_grad(Tensor::zeros({8, 6}));
  Arena arena(1 << 20);
  for (int step = 0; step < 3; ++step) {
    {
      ArenaScope scope(arena);
      Tensor x = uniform_tensor({16, 6}, -1, 1, 2 + step);
      backward(mean(mish(linear(x, w))));
      EXPECT_GT(arena.used(), 0u);
    }
    EXPECT_EQ(arena.live_blocks(), 0u);
    arena.reset();
  }
  EXPECT_GT(arena.high_water(), 0u);
  float s = 0.f;
  for (float g : w.grad().to_vector()) s += std::abs(g);
  EXPECT_GT(s, 0.f);
}

// The checker itself must be able to fail: a node with a deliberately wrong backward.
TEST(Autograd, GradcheckCatchesAWrongGradient) {
  auto wrong_square = [](const std::vector<Tensor>& v) {
    Tensor y = square(v[0]).detach();
    if (needs_record({&v[0]})) {
      Tensor xs = v[0].detach();
      record(y,
             std::make_shared<LambdaNode>("wrong",
                                          [xs](BackwardContext& ctx) {
                                            ctx.set(0,
                                                    mul(mul(ctx.grad_out(), xs), 3.f));  // 3x instead of 2x
                                          }),
             {&v[0]});
    }
    return y;
  };
  EXPECT_FALSE(testing::gradcheck(wrong_square, {uniform_tensor({3}, 0.5f, 1.f, 1)}));
}

}  // namespace
}  // namespace lucid
