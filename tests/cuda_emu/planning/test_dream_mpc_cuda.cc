// Dream-MPC on the emulated CUDA device (planners/dream_mpc/dream_mpc_cuda.cc) and its device
// action gradient (models/tdmpc2/action_gradient_cuda.cc) against the CPU paths:
// - the rollout value and dJ/dA equal the CPU's fused gradient to float rounding, with and without
//   the uncertainty penalty, with sampled and mean terminal actions, for a head pair and all heads;
// - the planner makes the CPU's plan for the same Rng over warm-started calls (the returned action,
//   the stored candidates and the Rng's position), for one and two observations and 1 or 2
//   iterations, from the third call on by replaying a captured CUDA graph, also after a weight
//   update;
// - a call after the warm-up is exactly one graph launch and no kernel launched from the host.
// A small TD-MPC2 with every weight random (as test_mppi_cuda.cc); 5 candidates, horizon 3.
#include <gtest/gtest.h>

#include <vector>

#include "device_flow_test.h"
#include "lucid/engine/cuda_device.h"
#include "lucid/engine/rng.h"
#include "lucid/models/tdmpc2/action_gradient.h"
#include "lucid/models/tdmpc2/action_gradient_cuda.h"
#include "lucid/models/tdmpc2/model.h"
#include "lucid/planners/dream_mpc.h"
#include "lucid_test.h"
#include "small_tdmpc2.h"

namespace lucid {
namespace {

using DreamMpcCudaTest = testing::DeviceFlowTest;

using models::RolloutObjective;
using models::tdmpc2::Tdmpc2ActionGradient;
using models::tdmpc2::Tdmpc2ActionGradientCuda;
using models::tdmpc2::Tdmpc2Config;
using models::tdmpc2::Tdmpc2Model;
using planners::DreamMpc;
using planners::PlannerConfig;
using testing::all_close;
using testing::random_vector;

constexpr int kObs = testing::kSmallObs, kAct = testing::kSmallAct, kLatent = testing::kSmallLatent;
constexpr int kHorizon = 3, kCandidates = 5;

PlannerConfig small_dream(int iterations) {
  PlannerConfig p;
  p.action_dim = kAct;
  p.latent_dim = kLatent;
  p.horizon = kHorizon;
  p.iterations = iterations;
  p.num_pi_trajs = kCandidates;
  return p;
}

Tensor to_device(const std::vector<float>& v, Shape s) { return Tensor::from(v, s).to(Device::kCuda); }

TEST_F(DreamMpcCudaTest, ActionGradientMatchesTheCpu) {
  Tdmpc2Model model(testing::small_tdmpc2_config());
  testing::randomise_tdmpc2(model, 3);
  const int rows = kCandidates, H = kHorizon;
  const auto z0 = random_vector(static_cast<std::size_t>(rows) * kLatent, 10, 0.f, 0.3f);
  const auto actions = random_vector(static_cast<std::size_t>(H) * rows * kAct, 11);
  const auto eps = random_vector(static_cast<std::size_t>(rows) * kAct, 12);
  Tdmpc2ActionGradient cpu(model);
  Tdmpc2ActionGradientCuda dev(model);
  cpu.reserve(rows, H);
  dev.reserve(rows, H);
  const Tensor d_z0 = to_device(z0, Shape{rows, kLatent});
  const Tensor d_actions = to_device(actions, Shape{H * rows, kAct});
  const Tensor d_eps = to_device(eps, Shape{rows, kAct});
  const Tensor d_value = Tensor::zeros(Shape{rows}, Device::kCuda);
  const Tensor d_grad = Tensor::zeros(Shape{H * rows, kAct}, Device::kCuda);
  const int pair[2] = {2, 0};
  for (float lambda : {0.01f, 0.f})
    for (bool sampled : {true, false})
      for (bool all_heads : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "lambda " << lambda << ", sampled " << sampled << ", all heads " << all_heads);
        RolloutObjective obj;
        obj.horizon = H;
        obj.discount = 0.95f;
        obj.terminal_value = true;
        obj.uncertainty_coef = lambda;
        if (!all_heads) obj.heads = std::span<const int>(pair, 2);
        std::vector<float> value(rows), grad(actions.size());
        obj.terminal_eps = sampled ? eps.data() : nullptr;
        cpu.evaluate(z0.data(), actions.data(), rows, obj, value.data(), grad.data());
        obj.terminal_eps = sampled ? d_eps.data() : nullptr;
        dev.evaluate(d_z0.data(), d_actions.data(), rows, obj, d_value.data(), d_grad.data());
        EXPECT_TRUE(all_close(d_value.to_vector().data(), value.data(), value.size(), 1e-4, 1e-4)) << "value";
        EXPECT_TRUE(all_close(d_grad.to_vector().data(), grad.data(), grad.size(), 1e-4, 1e-3)) << "dJ/dA";
      }
  // The policy prior rolled out through the dynamics.
  const auto prior_eps = random_vector(actions.size(), 13);
  std::vector<float> prior(actions.size());
  cpu.policy_rollout(z0.data(), prior_eps.data(), rows, H, prior.data());
  const Tensor d_prior_eps = to_device(prior_eps, Shape{H * rows, kAct});
  dev.policy_rollout(d_z0.data(), d_prior_eps.data(), rows, H, d_grad.data());
  EXPECT_TRUE(all_close(d_grad.to_vector().data(), prior.data(), prior.size(), 1e-5, 1e-4))
      << "policy rollout";
}

TEST_F(DreamMpcCudaTest, SamePlanAsTheCpu) {
  Tdmpc2Model model(testing::small_tdmpc2_config());
  testing::randomise_tdmpc2(model, 5);
  for (auto [batch, iterations] : {std::pair{1, 1}, std::pair{2, 2}}) {
    DreamMpc cpu(small_dream(iterations)), dev(small_dream(iterations));
    cpu.allocate(2);
    dev.allocate(2);
    Rng rng_cpu(11, 2), rng_dev(11, 2);
    // Calls 0 and 1 run uncaptured (the cold and the warm key's first), 2 captures the warm
    // graph, 3 replays it, 4 replays it after a weight update.
    for (int call = 0; call < 5; ++call) {
      SCOPED_TRACE(::testing::Message()
                   << "batch " << batch << ", iterations " << iterations << ", call " << call);
      if (call == 4) {
        std::span<float> p = model.params();
        for (std::size_t i = 0; i < p.size(); i += 7) p[i] *= -1.f;
        model.bump_weights_version();
      }
      const std::vector<float> o = random_vector(static_cast<std::size_t>(batch) * kObs, 40 + call);
      const std::vector<float> a_cpu =
          cpu.plan(model, Tensor::from(o, Shape{batch, kObs}), rng_cpu, true).to_vector();
      const Tensor a_dev = dev.plan(model, to_device(o, Shape{batch, kObs}), rng_dev, true);
      ASSERT_EQ(a_dev.device(), Device::kCuda);
      EXPECT_EQ(rng_cpu.offset(), rng_dev.offset()) << "the device path walked the Rng differently";
      EXPECT_TRUE(all_close(a_dev.to_vector().data(), a_cpu.data(), a_cpu.size(), 1e-4, 1e-4)) << "action";
      const std::size_t n = static_cast<std::size_t>(kHorizon) * batch * kCandidates * kAct;
      const std::vector<float> stored = dev.device_candidates().to_vector();
      EXPECT_TRUE(all_close(stored.data(), cpu.candidates().data(), n, 1e-4, 1e-4)) << "stored candidates";
    }
  }
}

TEST_F(DreamMpcCudaTest, AWarmCallIsOneGraphLaunch) {
  Tdmpc2Model model(testing::small_tdmpc2_config());
  testing::randomise_tdmpc2(model, 6);
  const Tensor obs = to_device(random_vector(kObs, 50), Shape{1, kObs});
  for (bool graphs : {true, false}) {
    DreamMpc dev(small_dream(1));
    dev.set_cuda_graphs(graphs);
    dev.allocate(1);
    Rng rng(7);
    for (int i = 0; i < 3; ++i) dev.plan(model, obs, rng, true);  // cold, warm, warm capture
    const emu::Counters before = emu::counters(cuda_compute_stream());
    dev.plan(model, obs, rng, true);
    const emu::Counters after = emu::counters(cuda_compute_stream());
    const auto kernels = after.kernel_launches - before.kernel_launches;
    const auto graph_launches = after.graph_launches - before.graph_launches;
    const auto graph_kernels = after.graph_kernel_launches - before.graph_kernel_launches;
    if (graphs) {
      EXPECT_EQ(kernels, 0u) << "a replayed plan launches nothing from the host";
      EXPECT_EQ(graph_launches, 1u);
      EXPECT_GT(graph_kernels, 100u);  // the whole call: encode, prior, forward, backward, select
    } else {
      EXPECT_EQ(graph_launches, 0u);
      EXPECT_GT(kernels, 100u);
    }
  }
}

TEST_F(DreamMpcCudaTest, OtherModelsAreRejectedOnTheDevice) {
  Tdmpc2Config c = testing::small_tdmpc2_config();
  c.num_tasks = 2;
  c.task_dim = 4;
  EXPECT_ANY_THROW({
    Tdmpc2Model multitask(c);
    Tdmpc2ActionGradientCuda grad(multitask);
  });
}

}  // namespace
}  // namespace lucid
