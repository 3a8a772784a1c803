// One TD-MPC2 world-model training step at the 5M model's shapes, on the CPU and on the CUDA
// device from identical weights and data: the losses, the gradient norm and every updated
// parameter must agree to 1e-4 relative.
//
// What this is: TD-MPC2's world-model update (facts/tdmpc2.md §1.5 steps 2-4) written with ENGINE
// OPS and nn blocks — encoder mlp(24, [256], 512, SimNorm), dynamics mlp(518, [512, 512], 512,
// SimNorm), reward mlp(518, [512, 512], 101), 5 Q heads mlp(518, [512, 512], 101, dropout 0.01)
// stacked as one Ensemble; latent rollout over H = 3; consistency MSE, reward two-hot CE, Q
// ensemble CE, each step weighted rho^t (rho 0.5); 20 / 0.1 / 0.1 coefficients; backward; clip 20;
// Adam with the encoder lr scaled by 0.3. Parameter counts are checked against the 5M model's.
// What it is not: the agent's own update (agents/tdmpc2 on models/tdmpc2's raw-buffer kernels);
// the TD targets are data here (the policy and target network are not part of these losses).
// The batch is 16 sequences instead of 256 so the emulated run takes about a second; every
// width is the real one.
#include <gtest/gtest.h>

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
  nn::Ensemble q{arena,
                 "q",
                 kHeads,
                 {.in = kLatent + kAct,
                  .hidden = {kMlp, kMlp},
                  .out = kBins,
                  .out_act = std::nullopt,
                  .dropout = 0.01f}};
};

std::size_t count_params(const nn::ParamArena& arena, const std::string& prefix) {
  std::size_t n = 0;
  for (const auto& v : arena.views())
    if (v.name.rfind(prefix, 0) == 0) n += static_cast<std::size_t>(v.shape.numel());
  return n;
}

struct Losses {
  Tensor consistency, reward, value, total;
};

// TD-MPC2's world-model losses (facts/tdmpc2.md §1.5 steps 2-4) on one batch.
Losses world_model_losses(const WorldModel& m, const Batch& b, Rng& rng, Device device) {
  std::vector<Tensor> next_z;
  {
    NoGrad ng;
    for (int t = 0; t < kH; ++t) next_z.push_back(m.enc.forward(b.obs[t + 1]));
  }
  Tensor z = m.enc.forward(b.obs[0]);
  Tensor cons = Tensor::zeros(Shape{}, device), rew = cons, val = cons;
  for (int t = 0; t < kH; ++t) {
    const float w = std::pow(kRho, static_cast<float>(t));
    const Tensor za = concat({z, b.action[t]}, -1);
    const Tensor q_logits = reshape(m.q.forward(za, &rng, /*training=*/true), {kHeads * kBatch, kBins});
    std::vector<Tensor> td_rep(kHeads, b.td[t]);
    val = add(val, mul(mean(soft_ce(q_logits, concat(td_rep, 0))), w));
    rew = add(rew, mul(mean(soft_ce(m.rew.forward(za), b.reward[t])), w));
    z = m.dyn.forward(za);
    cons = add(cons, mul(mse(z, next_z[static_cast<std::size_t>(t)]), w));
  }
  cons = mul(cons, 1.f / kH);
  rew = mul(rew, 1.f / kH);
  val = mul(val, 1.f / kH);
  return {cons, rew, val, add(add(mul(cons, 20.f), mul(rew, 0.1f)), mul(val, 0.1f))};
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
  auto rel = [](float got, float ref) { return std::abs(got - ref) / std::max(std::abs(ref), 1e-12f); };
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

}  // namespace
}  // namespace lucid
