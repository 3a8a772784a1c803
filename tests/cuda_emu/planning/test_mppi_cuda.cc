// MPPI on the emulated CUDA device (planners/mppi/mppi_cuda.cc) makes the same plan as on the
// CPU for the same Rng: the returned action, the final mean and std, the per-iteration elite
// value trace and the Rng's position after the call, over two warm-started calls, for one and for
// two observations (max_batch 2, so the device buffers are wider than the batch), the second
// iteration on a captured and replayed CUDA graph. A small TD-MPC2 with every weight random; 32
// samples, 4 policy rows, 6 elites, horizon 3, 2 iterations. Also pins the kernel launches of one
// planning iteration with and without the graph (what `lucid plan-bench` reports), and that graph
// replays stay right after a weight write and after the model's scratch grew.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "device_flow_test.h"
#include "lucid/engine/cuda_device.h"
#include "lucid/engine/rng.h"
#include "lucid/models/tdmpc2/model.h"
#include "lucid/planners/mppi.h"
#include "lucid_test.h"
#include "small_tdmpc2.h"

namespace lucid {
namespace {

using MppiCudaTest = testing::DeviceFlowTest;

using models::tdmpc2::Tdmpc2Config;
using models::tdmpc2::Tdmpc2Model;
using planners::Mppi;
using planners::PlannerConfig;
using testing::all_close;

constexpr int kObs = testing::kSmallObs, kAct = testing::kSmallAct, kLatent = testing::kSmallLatent;

PlannerConfig small_mppi() {
  PlannerConfig p;
  p.action_dim = kAct;
  p.latent_dim = kLatent;
  p.horizon = 3;
  p.iterations = 2;
  p.num_samples = 32;
  p.num_elites = 6;
  p.num_pi_trajs = 4;
  return p;
}

TEST_F(MppiCudaTest, SamePlanAsTheCpu) {
  Tdmpc2Model model(testing::small_tdmpc2_config());
  testing::randomise_tdmpc2(model, 3);
  // (batch, policy rows): one and two observations, and no policy-prior rows at all.
  for (auto [batch, pi_trajs] : {std::pair{1, 4}, std::pair{2, 4}, std::pair{1, 0}}) {
    PlannerConfig pc = small_mppi();
    pc.num_pi_trajs = pi_trajs;
    Mppi cpu(pc), dev(pc);
    cpu.allocate(2);
    dev.allocate(2);
    Rng rng_cpu(11, 2), rng_dev(11, 2);
    for (int call = 0; call < 2; ++call) {
      const Tensor obs = Tensor::from(
          testing::random_vector(static_cast<std::size_t>(batch) * kObs, 40 + call), Shape{batch, kObs});
      const bool eval = call == 1;
      const std::vector<float> a_cpu = cpu.plan(model, obs, rng_cpu, eval).to_vector();
      const Tensor a_dev_t = dev.plan(model, obs.to(Device::kCuda), rng_dev, eval);
      ASSERT_EQ(a_dev_t.device(), Device::kCuda);
      const std::vector<float> a_dev = a_dev_t.to_vector();
      SCOPED_TRACE(::testing::Message()
                   << "batch " << batch << ", policy rows " << pi_trajs << ", call " << call);
      EXPECT_EQ(rng_cpu.offset(), rng_dev.offset())
          << "the device path drew a different amount of randomness";
      EXPECT_TRUE(all_close(a_dev.data(), a_cpu.data(), a_cpu.size(), 1e-4, 1e-4)) << "action";
      const std::size_t n = static_cast<std::size_t>(batch) * 3 * kAct;
      EXPECT_TRUE(all_close(dev.mean().data(), cpu.mean().data(), n, 1e-4, 1e-4)) << "mean";
      EXPECT_TRUE(all_close(dev.std_dev().data(), cpu.std_dev().data(), n, 1e-4, 1e-4)) << "std";
      ASSERT_EQ(dev.elite_value_trace().size(), cpu.elite_value_trace().size());
      EXPECT_TRUE(all_close(dev.elite_value_trace().data(), cpu.elite_value_trace().data(),
                            cpu.elite_value_trace().size(), 1e-4, 1e-4))
          << "elite values";
    }
  }
}

TEST_F(MppiCudaTest, LaunchesPerIterationWithAndWithoutTheGraph) {
  Tdmpc2Model model(testing::small_tdmpc2_config());
  testing::randomise_tdmpc2(model, 4);
  PlannerConfig cfg = small_mppi();
  Rng rng(5);
  const Tensor obs = Tensor::from(testing::random_vector(kObs, 50), Shape{1, kObs}).to(Device::kCuda);
  // Counters of the second plan() call (the first sizes buffers, uploads and captures).
  auto counts_of = [&](int iterations, bool graphs) {
    cfg.iterations = iterations;
    Mppi mppi(cfg);
    mppi.set_cuda_graphs(graphs);
    mppi.allocate(1);
    mppi.plan(model, obs, rng, true);
    const emu::Counters before = emu::counters(cuda_compute_stream());
    mppi.plan(model, obs, rng, true);
    const emu::Counters after = emu::counters(cuda_compute_stream());
    return emu::Counters{after.kernel_launches - before.kernel_launches,
                         after.graph_launches - before.graph_launches,
                         after.graph_kernel_launches - before.graph_kernel_launches};
  };
  // Per iteration, from the host: noise + samples 2; step 0 from the shared latent (reward 8: u
  // GEMV, its bias add, the row GEMM, LayerNorm, 2 + 1 + decode; dynamics 9), accumulate 1;
  // steps 1, 2: reward 7, dynamics 8, accumulate 1; terminal: eps 1, pi 6 (+ squash), two Q heads
  // 2 x 6 + 1 decode, accumulate 1; the elite selection + refit 1.
  const emu::Counters off = counts_of(2, false), off1 = counts_of(1, false);
  EXPECT_EQ(off.kernel_launches - off1.kernel_launches,
            2u + (8u + 9u + 1u) + 2u * (7u + 8u + 1u) + (1u + 6u + 13u + 1u) + 1u);
  EXPECT_EQ(off.graph_launches, 0u);
  // With the graph: the two Philox draws, the terminal value and the refit from the host, the
  // sampling and the rollout (1 + 18 + 2 x 16 = 51 kernels) replayed as ONE graph launch.
  const emu::Counters on = counts_of(2, true), on1 = counts_of(1, true);
  EXPECT_EQ(on.kernel_launches - on1.kernel_launches, 2u + 20u + 1u);
  EXPECT_EQ(on.graph_launches - on1.graph_launches, 1u);
  EXPECT_EQ(on.graph_kernel_launches - on1.graph_kernel_launches, 51u);
}

TEST_F(MppiCudaTest, GraphReplaySurvivesWeightUpdatesAndBatchGrowth) {
  Tdmpc2Model model(testing::small_tdmpc2_config());
  testing::randomise_tdmpc2(model, 6);
  Mppi cpu(small_mppi()), dev(small_mppi());
  cpu.allocate(2);
  dev.allocate(2);
  Rng rng_cpu(21), rng_dev(21);
  auto plan_both = [&](int batch, std::uint64_t seed) {
    const Tensor obs = Tensor::from(testing::random_vector(static_cast<std::size_t>(batch) * kObs, seed),
                                    Shape{batch, kObs});
    const std::vector<float> a_cpu = cpu.plan(model, obs, rng_cpu, true).to_vector();
    const std::vector<float> a_dev = dev.plan(model, obs.to(Device::kCuda), rng_dev, true).to_vector();
    return all_close(a_dev.data(), a_cpu.data(), a_cpu.size(), 1e-4, 1e-4);
  };
  EXPECT_TRUE(plan_both(1, 60));  // captures batch 1's graph
  // New weights (an optimizer step): the replayed graph must read them.
  std::span<float> p = model.params();
  for (std::size_t i = 0; i < p.size(); i += 7) p[i] *= -1.f;
  EXPECT_TRUE(plan_both(1, 61)) << "after a weight update";
  EXPECT_TRUE(plan_both(2, 62));  // the device twin grows its scratch
  EXPECT_TRUE(plan_both(1, 63)) << "batch 1's graph after the scratch grew";
  EXPECT_EQ(rng_cpu.offset(), rng_dev.offset());
}

}  // namespace
}  // namespace lucid
