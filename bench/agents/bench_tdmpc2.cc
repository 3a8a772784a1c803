// bench_agents: one TD-MPC2 update step (facts/tdmpc2.md §1.5) at obs 24 / action 6, batch 256,
// horizon 3, for the 1M and 5M presets. The replay buffer holds a few random episodes; each
// iteration samples a batch and runs the full update (model, policy, target EMA), which is what
// the trainer does once per environment step. items/s = batch rows updated per second.
//
// Counters: FLOP/s from the GEMM FLOPs of one update (update_flops below: every Linear's forward,
// weight-gradient and input-gradient products the update runs), and ms_<phase>, the wall time per
// update inside each of the agent's profile ranges ("update/world_model" and so on; the hooks that
// Nsight would get record time here), so a change shows where it moved the time.
//
// Threads: LUCID_THREADS (else lucid's default policy) via kernels::init_threads(), printed in
// the context so every number says what it ran on.
#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "lucid/agents/replay_buffer.h"
#include "lucid/agents/tdmpc2_agent.h"
#include "lucid/engine/profile.h"
#include "lucid/engine/rng.h"
#include "lucid/kernels/threading.h"
#include "lucid/models/tdmpc2/model.h"

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

// GEMM FLOPs of one Mlp over `rows` rows: forward, the weight gradients (when `weight_grads`) and
// the input gradient (every layer's but the first's, whose input columns from `dx_first_col` on
// are computed when `first_dx`), as models/tdmpc2/mlp.cc runs them.
double mlp_flops(const lucid::models::tdmpc2::Mlp& m, int rows, bool backward, bool weight_grads,
                 bool first_dx, int dx_first_col = 0) {
  double f = 0;
  for (std::size_t i = 0; i < m.layers().size(); ++i) {
    const auto& l = m.layers()[i];
    const double mac = 2.0 * rows * l.out;
    f += mac * l.in;  // forward
    if (!backward) continue;
    if (weight_grads) f += mac * l.in;
    if (i > 0)
      f += mac * l.in;
    else if (first_dx)
      f += mac * (l.in - dx_first_col);
  }
  return f;
}

// The update of tdmpc2_agent.cc (single task): TD targets, the model loss and its backward, the
// policy loss and its backward.
double update_flops(const lucid::models::tdmpc2::Tdmpc2Model& model, int B, int H) {
  const auto& lay = model.layout();
  const int HB = H * B, R = (H + 1) * B, L = model.config().latent_dim, K = model.config().num_q;
  const auto& q = lay.q.front();
  double f = mlp_flops(lay.encoder, HB, false, false, false) + mlp_flops(lay.pi, HB, false, false, false) +
             2 * mlp_flops(q, HB, false, false, false);   // targets
  f += mlp_flops(lay.encoder, B, true, true, false);      // encoder (obs needs no gradient)
  f += H * mlp_flops(lay.dynamics, B, true, true, true);  // latent rollout
  f += (1 + K) * mlp_flops(q, HB, true, true, true);      // reward and Q heads (same shape)
  f += mlp_flops(lay.pi, R, true, true, false) + 2 * mlp_flops(q, R, true, false, true, L);  // policy loss
  return f;
}

// Wall time per profile range name, from the ProfileRange hooks (ranges of one thread, nested ok).
struct RangeTimer {
  using Clock = std::chrono::steady_clock;
  static inline std::vector<std::pair<const char*, Clock::time_point>> open;
  static inline std::map<std::string, double> seconds;
  static void push(const char* name) { open.emplace_back(name, Clock::now()); }
  static void pop() {
    seconds[open.back().first] += std::chrono::duration<double>(Clock::now() - open.back().second).count();
    open.pop_back();
  }
  static constexpr lucid::ProfileHooks kHooks{&RangeTimer::push, &RangeTimer::pop};
};

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
  RangeTimer::seconds.clear();
  lucid::set_profile_hooks(&RangeTimer::kHooks);
  for (auto _ : state) {
    auto info = agent.update(buffer);
    benchmark::DoNotOptimize(info);
  }
  lucid::set_profile_hooks(nullptr);
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["FLOP/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * update_flops(agent.model(), kBatch, kHorizon),
      benchmark::Counter::kIsRate);
  const double n = static_cast<double>(state.iterations());
  for (const auto& [name, sec] : RangeTimer::seconds)
    state.counters["ms_" + name.substr(name.find('/') + 1)] = 1e3 * sec / n;
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
