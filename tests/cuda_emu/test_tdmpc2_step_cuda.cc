// One TD-MPC2 training step at the 5M model's shapes, on the CPU and on the CUDA device from
// identical weights and data: losses, gradient norms and every updated parameter must agree to
// 1e-4 relative.
//
// What this is: TD-MPC2's update (facts/tdmpc2.md §1.5) written with ENGINE OPS and nn blocks —
// encoder mlp(24, [256], 512, SimNorm), dynamics mlp(518, [512, 512], 512, SimNorm), reward
// mlp(518, [512, 512], 101), 5 Q heads mlp(518, [512, 512], 101, dropout 0.01) stacked as one
// Ensemble, policy mlp(512, [512, 512], 12) and a target copy of the Q heads. Two tests:
// - the world-model step alone, TD targets given as data: latent rollout over H = 3; consistency
//   MSE, reward two-hot CE, Q ensemble CE, each step weighted rho^t (rho 0.5); 20 / 0.1 / 0.1
//   coefficients; backward; clip 20; Adam with the encoder lr scaled by 0.3;
// - the whole update: TD targets r + 0.99 min of two target heads at pi(next z); that world-model
//   step; the policy step (tanh-squashed Gaussian, TD-MPC2's scaled entropy 1e-4, Q average of
//   two heads divided by the running 5-95 percentile scale, rho-weighted; clip 20; Adam eps 1e-5);
//   the target EMA (tau 0.01).
// What it is not: the agent's own update (agents/tdmpc2 on models/tdmpc2's raw-buffer kernels),
// which runs on the CPU only. The batch is 16 sequences instead of 256 so the emulated run takes
// seconds; every width is the real one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "emu_fixture.h"
#include "gradcheck.h"
#include "lucid/engine/autograd.h"
#include "lucid/engine/cuda_device.h"
#include "lucid/engine/nn.h"
#include "lucid/engine/ops.h"
#include "lucid/engine/optim.h"
#include "lucid/engine/rng.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using nn::Activation;
using testing::all_close;
using testing::uniform_tensor;

constexpr int kObs = 24, kAct = 6, kLatent = 512, kEnc = 256, kMlp = 512, kBins = 101, kHeads = 5, kH = 3;
constexpr int kBatch = 16;
constexpr float kRho = 0.5f;

struct Batch {
  Tensor obs, action, reward, td;  // (H+1, B, obs), (H, B, A), (H, B, 1), (H, B, 1)
};

struct StepResult {
  float consistency, reward, value, total, grad_norm;
  std::vector<float> grads;   // clipped, as Adam saw them
  std::vector<float> params;  // after the Adam step
  float total_after;          // the same loss again, with the updated parameters
};

// One Q head: mlp(518, [512, 512], 101) with dropout 0.01 after the first layer (the model's heads
// and their target copies).
nn::MlpSpec q_head_spec() {
  return {
      .in = kLatent + kAct, .hidden = {kMlp, kMlp}, .out = kBins, .out_act = std::nullopt, .dropout = 0.01f};
}

// The 5M world model's modules, declared in TD-MPC2's order into one arena.
struct WorldModel {
  nn::ParamArena arena;
  nn::Mlp enc{arena, "enc", {.in = kObs, .hidden = {kEnc}, .out = kLatent, .out_act = Activation::kSimNorm}};
  nn::Mlp dyn{
      arena,
      "dyn",
      {.in = kLatent + kAct, .hidden = {kMlp, kMlp}, .out = kLatent, .out_act = Activation::kSimNorm}};
  nn::Mlp rew{
      arena, "rew", {.in = kLatent + kAct, .hidden = {kMlp, kMlp}, .out = kBins, .out_act = std::nullopt}};
  nn::Ensemble q{arena, "q", kHeads, q_head_spec()};
};

// |got - ref| / |ref| (floor 1e-12): how the device's losses and norms are compared with the CPU's.
float rel(float got, float ref) { return std::abs(got - ref) / std::max(std::abs(ref), 1e-12f); }

std::size_t count_params(const nn::ParamArena& arena, const std::string& prefix) {
  std::size_t n = 0;
  for (const auto& v : arena.views())
    if (v.name.rfind(prefix, 0) == 0) n += static_cast<std::size_t>(v.shape.numel());
  return n;
}

struct Losses {
  Tensor consistency, reward, value, total;
  std::vector<Tensor> zs;  // z_0 .. z_H of the rollout, detached (the policy step's inputs)
};

// TD-MPC2's world-model losses (facts/tdmpc2.md §1.5 steps 2-4) on one batch.
Losses world_model_losses(const WorldModel& m, const Batch& b, Rng& rng, Device device) {
  std::vector<Tensor> next_z;
  {
    NoGrad ng;
    for (int t = 0; t < kH; ++t) next_z.push_back(m.enc.forward(b.obs[t + 1]));
  }
  Tensor z = m.enc.forward(b.obs[0]);
  std::vector<Tensor> zs{z.detach()};
  Tensor cons = Tensor::zeros(Shape{}, device), rew = cons, val = cons;
  for (int t = 0; t < kH; ++t) {
    const float w = std::pow(kRho, static_cast<float>(t));
    const Tensor za = concat({z, b.action[t]}, -1);
    const Tensor q_logits = reshape(m.q.forward(za, &rng, /*training=*/true), {kHeads * kBatch, kBins});
    std::vector<Tensor> td_rep(kHeads, b.td[t]);
    val = add(val, mul(mean(soft_ce(q_logits, concat(td_rep, 0))), w));
    rew = add(rew, mul(mean(soft_ce(m.rew.forward(za), b.reward[t])), w));
    z = m.dyn.forward(za);
    zs.push_back(z.detach());
    cons = add(cons, mul(mse(z, next_z[static_cast<std::size_t>(t)]), w));
  }
  cons = mul(cons, 1.f / kH);
  rew = mul(rew, 1.f / kH);
  val = mul(val, 1.f / kH);
  return {cons, rew, val, add(add(mul(cons, 20.f), mul(rew, 0.1f)), mul(val, 0.1f)), std::move(zs)};
}

StepResult train_step(Device device, const std::vector<float>& init, const Batch& host_batch) {
  WorldModel m;
  m.arena.allocate();
  m.arena.params_tensor().copy_from(Tensor::from(init, Shape{static_cast<std::int64_t>(init.size())}));
  m.arena.to(device);
  const Batch b{host_batch.obs.to(device), host_batch.action.to(device), host_batch.reward.to(device),
                host_batch.td.to(device)};
  Rng rng(11);  // dropout masks: the same Philox draws on both devices
  const Losses l = world_model_losses(m, b, rng, device);
  m.arena.zero_grad();
  backward(l.total);
  const float norm = clip_grad_norm(m.arena.grads_tensor(), 20.f);
  const nn::ParamArena::Range enc = m.arena.range("enc.");
  Adam adam(m.arena.size(),
            {{enc.offset, enc.size, 0.3f}, {enc.offset + enc.size, m.arena.size() - enc.size, 1.f}});
  adam.step(m.arena.params_tensor(), m.arena.grads_tensor());
  float after;
  {
    NoGrad ng;
    Rng rng_after(11);
    after = world_model_losses(m, b, rng_after, device).total.item();
  }
  return {l.consistency.item(),
          l.reward.item(),
          l.value.item(),
          l.total.item(),
          norm,
          m.arena.grads_tensor().to_vector(),
          m.arena.params_tensor().to_vector(),
          after};
}

// ---- the whole update: TD targets, world model, policy, target EMA ----

constexpr float kLogStdMin = -10.f, kLogStdMax = 2.f, kEntropyCoef = 1e-4f, kDiscount = 0.99f, kTau = 0.01f;
constexpr int kTdHeads[2] = {1, 3}, kPiHeads[2] = {4, 0};

// The policy prior and the target Q heads, each in its own arena: the policy has its own optimizer
// and the target network is only ever written by the EMA.
struct Policy {
  nn::ParamArena arena;
  nn::Mlp pi{arena, "pi", {.in = kLatent, .hidden = {kMlp, kMlp}, .out = 2 * kAct, .out_act = std::nullopt}};
};
struct TargetQ {
  nn::ParamArena arena;
  nn::Ensemble q{arena, "q", kHeads, q_head_spec()};
};

struct PiSample {
  Tensor action, entropy;  // (rows, A) squashed; (rows, 1) TD-MPC2's scaled entropy
};

// TD-MPC2's policy sample (facts/tdmpc2.md §1.3): log_std squashed into [min, max] by tanh,
// a = tanh(mu + eps std), log pi with the squash correction, entropy scaled by A as the official
// code does (-lp * (A lp_gauss) / (lp + 1e-8)).
PiSample pi_sample(const nn::Mlp& pi, const Tensor& z, const Tensor& eps) {
  const Tensor out = pi.forward(z);
  const Tensor mu = slice(out, -1, 0, kAct), raw = slice(out, -1, kAct, 2 * kAct);
  const Tensor log_std = add(mul(add(tanh(raw), 1.f), 0.5f * (kLogStdMax - kLogStdMin)), kLogStdMin);
  const Tensor pre = add(mu, mul(eps, exp(log_std)));
  const Tensor lp_gauss = gaussian_logprob(eps, log_std);
  const Tensor lp = sub(lp_gauss, squash_correction(pre));
  const Tensor entropy = neg(mul(lp, div(mul(lp_gauss, static_cast<float>(kAct)), add(lp, 1e-8f))));
  return {tanh(pre), entropy};
}

// Q value (rows, 1) of one head of an Ensemble output (E, rows, bins).
Tensor head_value(const Tensor& q_logits, int head) {
  const std::int64_t rows = q_logits.shape()[1];
  return two_hot_inv(reshape(slice(q_logits, 0, head, head + 1), {rows, kBins}));
}

// torch-style linear-interpolated percentile of a host vector.
float percentile(std::vector<float> v, float pct) {
  std::sort(v.begin(), v.end());
  const float pos = pct * static_cast<float>(v.size() - 1) / 100.f;
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  const float w = pos - static_cast<float>(lo);
  return v[lo] * (1.f - w) + v[hi] * w;
}

struct UpdateInit {
  std::vector<float> model, pi;  // the target Q heads start as a copy of the model's
};

struct UpdateResult {
  std::vector<float> td;
  float total, grad_norm, pi_loss, pi_scale, pi_grad_norm;
  std::vector<float> params, pi_params, target_params;  // after the step
};

UpdateResult full_update(Device device, const UpdateInit& init, const Batch& host_batch, const Tensor& td_eps,
                         const Tensor& pi_eps) {
  WorldModel m;
  Policy p;
  TargetQ target;
  m.arena.allocate();
  p.arena.allocate();
  target.arena.allocate();
  m.arena.params_tensor().copy_from(
      Tensor::from(init.model, Shape{static_cast<std::int64_t>(init.model.size())}));
  p.arena.params_tensor().copy_from(Tensor::from(init.pi, Shape{static_cast<std::int64_t>(init.pi.size())}));
  const nn::ParamArena::Range q_range = m.arena.range("q.");
  EXPECT_EQ(q_range.size, target.arena.size());
  target.arena.params_tensor().copy_from(slice(m.arena.params_tensor(), 0,
                                               static_cast<std::int64_t>(q_range.offset),
                                               static_cast<std::int64_t>(q_range.offset + q_range.size)));
  m.arena.to(device);
  p.arena.to(device);
  target.arena.to(device);
  Batch b{host_batch.obs.to(device), host_batch.action.to(device), host_batch.reward.to(device), Tensor()};
  const Tensor td_eps_d = td_eps.to(device), pi_eps_d = pi_eps.to(device);
  Rng rng(11);  // dropout masks: the same Philox draws on both devices
  UpdateResult r{};

  // 1. TD targets: r + gamma min(Q_target_i, Q_target_j)(z', pi(z')), no gradient.
  {
    NoGrad ng;
    std::vector<Tensor> td;
    for (int t = 0; t < kH; ++t) {
      const Tensor next_z = m.enc.forward(b.obs[t + 1]);
      const PiSample s = pi_sample(p.pi, next_z, td_eps_d[t]);
      const Tensor q = target.q.forward(concat({next_z, s.action}, -1));
      td.push_back(
          add(b.reward[t], mul(minimum(head_value(q, kTdHeads[0]), head_value(q, kTdHeads[1])), kDiscount)));
    }
    b.td = reshape(concat(td, 0), {kH, kBatch, 1});
    r.td = b.td.to_vector();
  }

  // 2-4. World-model losses, clip, Adam (encoder lr x0.3).
  const Losses l = world_model_losses(m, b, rng, device);
  m.arena.zero_grad();
  backward(l.total);
  r.total = l.total.item();
  r.grad_norm = clip_grad_norm(m.arena.grads_tensor(), 20.f);
  const nn::ParamArena::Range enc = m.arena.range("enc.");
  Adam adam(m.arena.size(),
            {{enc.offset, enc.size, 0.3f}, {enc.offset + enc.size, m.arena.size() - enc.size, 1.f}});
  adam.step(m.arena.params_tensor(), m.arena.grads_tensor());

  // 5. Policy step on the detached latents with the updated Q heads (dropout on, as in training).
  std::vector<Tensor> q_avg, entropy;
  for (int t = 0; t <= kH; ++t) {
    const Tensor& z = l.zs[static_cast<std::size_t>(t)];
    const PiSample s = pi_sample(p.pi, z, pi_eps_d[t]);
    const Tensor q = m.q.forward(concat({z, s.action}, -1), &rng, /*training=*/true);
    q_avg.push_back(mul(add(head_value(q, kPiHeads[0]), head_value(q, kPiHeads[1])), 0.5f));
    entropy.push_back(s.entropy);
  }
  const std::vector<float> q0 = q_avg[0].to_vector();
  r.pi_scale = 1.f + kTau * (std::max(percentile(q0, 95.f) - percentile(q0, 5.f), 1.f) - 1.f);
  Tensor pi_loss = Tensor::zeros(Shape{}, device);
  for (int t = 0; t <= kH; ++t) {
    const Tensor objective = add(mul(entropy[static_cast<std::size_t>(t)], kEntropyCoef),
                                 mul(q_avg[static_cast<std::size_t>(t)], 1.f / r.pi_scale));
    pi_loss = add(pi_loss, mul(mean(neg(objective)), std::pow(kRho, static_cast<float>(t))));
  }
  pi_loss = mul(pi_loss, 1.f / static_cast<float>(kH + 1));
  p.arena.zero_grad();
  m.arena.zero_grad();  // the Q heads get gradients too; only the policy's are used
  backward(pi_loss);
  r.pi_loss = pi_loss.item();
  r.pi_grad_norm = clip_grad_norm(p.arena.grads_tensor(), 20.f);
  Adam pi_adam(p.arena.size(), {}, {.eps = 1e-5f});
  pi_adam.step(p.arena.params_tensor(), p.arena.grads_tensor());

  // 6. Target EMA: target <- (1 - tau) target + tau Q.
  {
    NoGrad ng;
    const Tensor q_now = slice(m.arena.params_tensor(), 0, static_cast<std::int64_t>(q_range.offset),
                               static_cast<std::int64_t>(q_range.offset + q_range.size));
    target.arena.params_tensor().copy_from(
        add(mul(target.arena.params_tensor(), 1.f - kTau), mul(q_now, kTau)));
  }
  r.params = m.arena.params_tensor().to_vector();
  r.pi_params = p.arena.params_tensor().to_vector();
  r.target_params = target.arena.params_tensor().to_vector();
  return r;
}

class Tdmpc2StepCuda : public testing::EmuTest {
 protected:
  void SetUp() override {
    testing::EmuTest::SetUp();
    if (IsSkipped()) return;
    use_cuda_device();
  }
};

TEST_F(Tdmpc2StepCuda, WorldModelStepOnCudaMatchesCpuAt5MShapes) {
  std::vector<float> init;
  {
    WorldModel m;
    m.arena.allocate();
    // The 5M model's sizes (facts/tdmpc2.md §1.3: single task, obs 24, act 6).
    EXPECT_EQ(count_params(m.arena, "enc."), 139520u);
    EXPECT_EQ(count_params(m.arena, "dyn."), 794112u);
    EXPECT_EQ(count_params(m.arena, "rew."), 582245u);
    EXPECT_EQ(count_params(m.arena, "q."), 2911225u);
    Rng rng(5);
    m.enc.init(rng);
    m.dyn.init(rng);
    m.rew.init(rng);
    m.q.init(rng);
    // TD-MPC2 zeroes the reward and Q output layers; random ones instead make every gradient
    // path (through the logits into the trunk) non-trivial in the very first step.
    init = m.arena.params_tensor().to_vector();
  }
  const Batch batch{
      uniform_tensor({kH + 1, kBatch, kObs}, -1.f, 1.f, 1), uniform_tensor({kH, kBatch, kAct}, -1.f, 1.f, 2),
      uniform_tensor({kH, kBatch, 1}, -2.f, 5.f, 3), uniform_tensor({kH, kBatch, 1}, -20.f, 60.f, 4)};
  const StepResult cpu = train_step(Device::kCpu, init, batch);
#if defined(LUCID_EMU)
  emu::reset_counters();
#endif
  const StepResult gpu = train_step(Device::kCuda, init, batch);
#if defined(LUCID_EMU)
  // Every op ran on the device: the step is hundreds of launches (forward, backward, clip, Adam).
  const std::uint64_t launches = emu::total_counters().kernel_launches;
  EXPECT_GT(launches, 200u);
  std::printf("emulated CUDA step: %llu kernel launches (incl. cuBLAS calls)\n",
              static_cast<unsigned long long>(launches));
#endif
  EXPECT_LT(rel(gpu.consistency, cpu.consistency), 1e-4) << gpu.consistency << " vs " << cpu.consistency;
  EXPECT_LT(rel(gpu.reward, cpu.reward), 1e-4) << gpu.reward << " vs " << cpu.reward;
  EXPECT_LT(rel(gpu.value, cpu.value), 1e-4) << gpu.value << " vs " << cpu.value;
  EXPECT_LT(rel(gpu.total, cpu.total), 1e-4) << gpu.total << " vs " << cpu.total;
  EXPECT_LT(rel(gpu.grad_norm, cpu.grad_norm), 1e-4) << gpu.grad_norm << " vs " << cpu.grad_norm;
  EXPECT_GT(cpu.grad_norm, 0.f);
  std::printf(
      "5M world-model step, batch %d: total loss cpu %.9g cuda %.9g (rel %.2e); after the step cpu %.9g "
      "cuda %.9g (rel %.2e); grad norm rel %.2e\n",
      kBatch, cpu.total, gpu.total, rel(gpu.total, cpu.total), cpu.total_after, gpu.total_after,
      rel(gpu.total_after, cpu.total_after), rel(gpu.grad_norm, cpu.grad_norm));
  EXPECT_LT(rel(gpu.total_after, cpu.total_after), 1e-4) << gpu.total_after << " vs " << cpu.total_after;
  EXPECT_LT(cpu.total_after, cpu.total);  // the step descended

  // Gradients: 1e-4 relative, with an absolute floor of 1e-6 of the largest one (sums of many
  // products in a different order differ by rounding, which only shows where they cancel).
  ASSERT_EQ(gpu.grads.size(), cpu.grads.size());
  float g_max = 0.f;
  for (float g : cpu.grads) g_max = std::max(g_max, std::abs(g));
  EXPECT_TRUE(all_close(gpu.grads.data(), cpu.grads.data(), cpu.grads.size(), 1e-6 * g_max, 1e-4));
  // Updated parameters, 1e-4 relative (floor 1e-7) wherever the gradient is above that rounding
  // floor. Where it is not, Adam's first step lr * g / (|g| + eps) turns rounding-level gradient
  // differences into up to a whole lr step, so there only |difference| <= lr is required.
  ASSERT_EQ(gpu.params.size(), cpu.params.size());
  std::size_t checked = 0, bad = 0, floor_bad = 0;
  for (std::size_t i = 0; i < cpu.params.size(); ++i) {
    const double d = std::abs(double(gpu.params[i]) - cpu.params[i]);
    if (std::abs(cpu.grads[i]) >= 1e-5f * g_max) {
      ++checked;
      bad += !(d <= 1e-7 + 1e-4 * std::abs(cpu.params[i]));
    } else {
      floor_bad += !(d <= 3e-4);
    }
  }
  EXPECT_EQ(bad, 0u) << "of " << checked << " parameters with a non-negligible gradient";
  EXPECT_EQ(floor_bad, 0u);
  EXPECT_GT(checked, cpu.params.size() / 2);
  // The step did move the parameters (so the comparison above is not of two copies of `init`).
  double moved = 0.0;
  for (std::size_t i = 0; i < init.size(); ++i)
    moved = std::max(moved, std::abs(double(cpu.params[i]) - init[i]));
  EXPECT_GT(moved, 1e-4);
}

TEST_F(Tdmpc2StepCuda, WholeUpdateOnCudaMatchesCpuAt5MShapes) {
  UpdateInit init;
  {
    WorldModel m;
    Policy p;
    m.arena.allocate();
    p.arena.allocate();
    EXPECT_EQ(count_params(p.arena, "pi."), 533516u);  // with the four above: 4,960,618, the 5M total
    Rng rng(5);
    m.enc.init(rng);
    m.dyn.init(rng);
    m.rew.init(rng);
    m.q.init(rng);
    p.pi.init(rng);
    init.model = m.arena.params_tensor().to_vector();
    init.pi = p.arena.params_tensor().to_vector();
  }
  const Batch batch{uniform_tensor({kH + 1, kBatch, kObs}, -1.f, 1.f, 1),
                    uniform_tensor({kH, kBatch, kAct}, -1.f, 1.f, 2),
                    uniform_tensor({kH, kBatch, 1}, -2.f, 5.f, 3), Tensor()};
  const Tensor td_eps = uniform_tensor({kH, kBatch, kAct}, -2.f, 2.f, 6);
  const Tensor pi_eps = uniform_tensor({kH + 1, kBatch, kAct}, -2.f, 2.f, 7);
  const UpdateResult cpu = full_update(Device::kCpu, init, batch, td_eps, pi_eps);
  const UpdateResult gpu = full_update(Device::kCuda, init, batch, td_eps, pi_eps);

  std::printf(
      "5M whole update, batch %d: total loss rel %.2e, pi loss cpu %.9g cuda %.9g (rel %.2e), pi grad "
      "norm rel %.2e\n",
      kBatch, rel(gpu.total, cpu.total), cpu.pi_loss, gpu.pi_loss, rel(gpu.pi_loss, cpu.pi_loss),
      rel(gpu.pi_grad_norm, cpu.pi_grad_norm));
  EXPECT_TRUE(all_close(gpu.td.data(), cpu.td.data(), cpu.td.size(), 1e-6, 1e-4));
  EXPECT_LT(rel(gpu.total, cpu.total), 1e-4) << gpu.total << " vs " << cpu.total;
  EXPECT_LT(rel(gpu.grad_norm, cpu.grad_norm), 1e-4) << gpu.grad_norm << " vs " << cpu.grad_norm;
  EXPECT_LT(rel(gpu.pi_scale, cpu.pi_scale), 1e-4) << gpu.pi_scale << " vs " << cpu.pi_scale;
  EXPECT_LT(rel(gpu.pi_loss, cpu.pi_loss), 1e-4) << gpu.pi_loss << " vs " << cpu.pi_loss;
  EXPECT_LT(rel(gpu.pi_grad_norm, cpu.pi_grad_norm), 1e-4) << gpu.pi_grad_norm << " vs " << cpu.pi_grad_norm;
  EXPECT_GT(cpu.pi_grad_norm, 0.f);
  // Parameters after the step: Adam's first step moves each by about lr, whatever the gradient's
  // size, so a rounding-level gradient difference can flip a tiny one; lr bounds every difference
  // and 1e-4 relative (floor 1e-7) must hold for the bulk.
  auto check_params = [](const std::vector<float>& got, const std::vector<float>& ref, const char* what) {
    ASSERT_EQ(got.size(), ref.size()) << what;
    std::size_t close = 0, beyond_lr = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      const double d = std::abs(double(got[i]) - ref[i]);
      close += d <= 1e-7 + 1e-4 * std::abs(ref[i]);
      beyond_lr += d > 3e-4;
    }
    EXPECT_EQ(beyond_lr, 0u) << what;
    EXPECT_GT(close, ref.size() * 99 / 100) << what;
  };
  check_params(gpu.params, cpu.params, "world model");
  check_params(gpu.pi_params, cpu.pi_params, "policy");
  EXPECT_TRUE(
      all_close(gpu.target_params.data(), cpu.target_params.data(), cpu.target_params.size(), 1e-7, 1e-4));
  double pi_moved = 0.0;
  for (std::size_t i = 0; i < init.pi.size(); ++i)
    pi_moved = std::max(pi_moved, std::abs(double(cpu.pi_params[i]) - init.pi[i]));
  EXPECT_GT(pi_moved, 1e-4);  // the policy step did move the policy
}

}  // namespace
}  // namespace lucid
