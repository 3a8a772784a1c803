// bench_agents: one TD-MPC2 update step (facts/tdmpc2.md §1.5) at obs 24 / action 6, batch 256,
// horizon 3, for the 1M and 5M presets. The replay buffer holds a few random episodes; each
// iteration samples a batch and runs the full update (model, policy, target EMA), which is what
// the trainer does once per environment step. items/s = batch rows updated per second.
//
// Threads: LUCID_THREADS (else lucid's default policy) via kernels::init_threads(), printed in
// the context so every number says what it ran on.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "lucid/agents/replay_buffer.h"
#include "lucid/agents/tdmpc2_agent.h"
#include "lucid/engine/rng.h"
#include "lucid/kernels/threading.h"

namespace {

constexpr int kObsDim = 24;
constexpr int kActionDim = 6;
constexpr int kBatch = 256;
constexpr int kHorizon = 3;
constexpr int kEpisodes = 4;
constexpr int kEpisodeLength = 500;

// kEpisodes episodes of uniform random observations, actions and rewards.
void fill_buffer(lucid::agents::ReplayBuffer& buffer, lucid::Rng& rng) {
  std::vector<float> obs((kEpisodeLength + 1) * kObsDim), action(kEpisodeLength * kActionDim),
      reward(kEpisodeLength);
  for (int e = 0; e < kEpisodes; ++e) {
    for (float& x : obs) x = 2.f * rng.uniform() - 1.f;
    for (float& x : action) x = 2.f * rng.uniform() - 1.f;
    for (float& x : reward) x = rng.uniform();
    buffer.add_episode(obs, action, reward);
  }
}

void BM_Tdmpc2Update(benchmark::State& state) {
  lucid::agents::Tdmpc2AgentConfig cfg;
  cfg.obs_dim = kObsDim;
  cfg.action_dim = kActionDim;
  cfg.model_size = static_cast<int>(state.range(0));
  cfg.batch_size = kBatch;
  cfg.horizon = kHorizon;
  lucid::agents::Tdmpc2Agent agent(cfg);
  lucid::agents::ReplayBuffer buffer(kObsDim, kActionDim, kEpisodes * kEpisodeLength, kHorizon);
  lucid::Rng rng(7);
  fill_buffer(buffer, rng);
  for (int i = 0; i < 2; ++i) agent.update(buffer);  // warm-up: first-touch of buffers and caches
  for (auto _ : state) {
    auto info = agent.update(buffer);
    benchmark::DoNotOptimize(info);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_Tdmpc2Update)->Arg(1)->Arg(5)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  lucid::kernels::init_threads();
  benchmark::AddCustomContext("lucid_threads", std::to_string(lucid::kernels::num_threads()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
