// Adam, grad-norm clipping and EMA against torch.optim / torch.nn.utils results computed once with
// Debian's python3-torch 1.13 (the numbers are quoted below with the script's inputs), plus the
// group semantics that torch expresses with several param groups.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lucid/engine/optim.h"
#include "lucid/error.h"
#include "lucid_test.h"

namespace {

using lucid::Adam;
using lucid::AdamOptions;
using lucid::ParamGroup;
using lucid::testing::all_close;

const std::vector<std::vector<float>> kGrads = {{0.1f, -0.2f, 0.3f, 0.0f, 1.5f, -2.0f},
                                                {0.05f, 0.4f, -0.3f, 1e-3f, 1.0f, -1.0f},
                                                {-0.2f, 0.1f, 0.3f, -1e-3f, 0.5f, 3.0f}};
const std::vector<float> kInit = {0.5f, -1.0f, 2.0f, 0.0f, 3.0f, -0.25f};

// torch.optim.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8), three steps with kGrads.
TEST(Adam, MatchesTorchAfterThreeSteps) {
  std::vector<float> p = kInit;
  Adam adam(p.size(), {}, AdamOptions{.lr = 0.01f});
  for (const auto& g : kGrads) adam.step(p, g);
  const float want_p[] = {0.4827417731285095f,   -0.9978175759315491f, 1.9871684312820435f,
                          -0.00698944553732872f, 2.971360206604004f,   -0.23149797320365906f};
  const float want_m[] = {-0.0074000004678964615f,  0.02979999966919422f, 0.027300000190734863f,
                          -1.0000005204346962e-05f, 0.2615000009536743f,  0.04800000041723251f};
  const float want_v[] = {5.2477513236226514e-05f, 0.00020976005180273205f, 0.0002697301097214222f,
                          1.9990002986247646e-09f, 0.00349450227804482f,    0.013991003856062889f};
  EXPECT_TRUE(all_close(p.data(), want_p, 6, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(adam.exp_avg().data(), want_m, 6, 1e-9, 1e-6));
  // AdamOptions holds beta2 as the float 0.99900001, torch as the double 0.999, so (1 - beta2)
  // differs by 1.3e-5 relative; it cancels in the update (v and bias_c2 carry the same factor).
  EXPECT_TRUE(all_close(adam.exp_avg_sq().data(), want_v, 6, 1e-12, 3e-5));
  EXPECT_EQ(adam.step_count(), 3);
}

// The first bias-corrected step moves each parameter by lr * g / (|g| + eps'), i.e. ~lr * sign(g).
TEST(Adam, FirstStepIsLrTimesSign) {
  std::vector<float> p(4, 1.0f);
  const std::vector<float> g = {2.0f, -0.5f, 1e-3f, -30.0f};
  Adam adam(4, {}, AdamOptions{.lr = 0.1f});
  adam.step(p, g);
  const float want[] = {0.9f, 1.1f, 0.9f, 1.1f};
  EXPECT_TRUE(all_close(p.data(), want, 4, 1e-5, 0));
}

// A group with lr_scale s follows an Adam with lr * s; elements outside every group stay put.
TEST(Adam, GroupScalesAndFrozenElements) {
  std::vector<float> p = kInit, ref_a = {kInit[0], kInit[1]}, ref_b = {kInit[3], kInit[4], kInit[5]};
  Adam adam(6, {{0, 2, 1.0f}, {3, 3, 0.25f}}, AdamOptions{.lr = 0.02f});
  Adam a(2, {}, AdamOptions{.lr = 0.02f}), b(3, {}, AdamOptions{.lr = 0.005f});
  for (const auto& g : kGrads) {
    adam.step(p, g);
    a.step(ref_a, std::vector<float>{g[0], g[1]});
    b.step(ref_b, std::vector<float>{g[3], g[4], g[5]});
  }
  EXPECT_TRUE(all_close(p.data(), ref_a.data(), 2, 0, 1e-6));
  EXPECT_TRUE(all_close(p.data() + 3, ref_b.data(), 3, 0, 1e-6));
  EXPECT_EQ(p[2], kInit[2]);
  EXPECT_EQ(adam.exp_avg()[2], 0.0f);
}

TEST(Adam, RejectsBadGroupsAndSizes) {
  EXPECT_THROW(Adam(4, {{0, 3}, {2, 2}}), lucid::ShapeError);
  EXPECT_THROW(Adam(4, {{2, 3}}), lucid::ShapeError);
  Adam adam(4, {});
  std::vector<float> p(4), g(3);
  EXPECT_THROW(adam.step(p, g), lucid::ShapeError);
}

// Restoring moments and the step count resumes the exact trajectory (what checkpoints rely on).
TEST(Adam, ResumesFromRestoredState) {
  std::vector<float> p = kInit;
  Adam adam(6, {}, AdamOptions{.lr = 0.01f});
  adam.step(p, kGrads[0]);
  std::vector<float> q = p;
  Adam resumed(6, {}, AdamOptions{.lr = 0.01f});
  std::copy(adam.exp_avg().begin(), adam.exp_avg().end(), resumed.exp_avg().begin());
  std::copy(adam.exp_avg_sq().begin(), adam.exp_avg_sq().end(), resumed.exp_avg_sq().begin());
  resumed.set_step_count(adam.step_count());
  adam.step(p, kGrads[1]);
  resumed.step(q, kGrads[1]);
  EXPECT_EQ(p, q);
}

// torch.nn.utils.clip_grad_norm_(g=[3, 4, 0, 12], 6.5) returns 13 and leaves g * 6.5/(13+1e-6).
TEST(ClipGradNorm, MatchesTorch) {
  std::vector<float> g = {3.0f, 4.0f, 0.0f, 12.0f};
  EXPECT_FLOAT_EQ(lucid::clip_grad_norm(g, 6.5f), 13.0f);
  const float want[] = {1.4999998807907104f, 1.9999998807907104f, 0.0f, 5.999999523162842f};
  EXPECT_TRUE(all_close(g.data(), want, 4, 0, 1e-6));
}

TEST(ClipGradNorm, LeavesSmallAndNonFiniteGradientsAlone) {
  std::vector<float> g = {0.3f, -0.4f};
  EXPECT_NEAR(lucid::clip_grad_norm(g, 1.0f), 0.5f, 1e-7);
  EXPECT_EQ(g, (std::vector<float>{0.3f, -0.4f}));
  std::vector<float> bad = {1.0f, NAN, 2.0f};
  EXPECT_TRUE(std::isnan(lucid::clip_grad_norm(bad, 1.0f)));
  EXPECT_EQ(bad[0], 1.0f);
  EXPECT_EQ(bad[2], 2.0f);
}

// Large enough to take the OpenMP path of the kernels; the norm is known in closed form.
TEST(ClipGradNorm, LargeArena) {
  std::vector<float> g(1 << 18, 0.5f);  // norm = 0.5 * 2^9 = 256
  EXPECT_NEAR(lucid::clip_grad_norm(g, 16.0f), 256.0f, 1e-3);
  for (std::size_t i = 0; i < g.size(); i += 4099) ASSERT_NEAR(g[i], 0.5f / 16.0f, 1e-7);
}

TEST(Ema, LerpsTowardSource) {
  std::vector<float> target = {0.0f, 1.0f, -2.0f}, source = {1.0f, 1.0f, 2.0f};
  lucid::ema_update(target, source, 0.01f);
  const float want[] = {0.01f, 1.0f, -1.96f};
  EXPECT_TRUE(all_close(target.data(), want, 3, 1e-7, 1e-6));
  lucid::ema_update(target, source, 1.0f);
  EXPECT_EQ(target, source);
  std::vector<float> short_source(2);
  EXPECT_THROW(lucid::ema_update(target, short_source, 0.5f), lucid::ShapeError);
}

}  // namespace
