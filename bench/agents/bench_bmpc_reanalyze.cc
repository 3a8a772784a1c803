// BM_BmpcReanalyze: one BMPC lazy-reanalyze planning call (facts/tdmpc2.md §2) — BatchedMppi over
// 60 states (20 sequences x horizon 3), official MPPI settings, at cartpole-swingup's sizes (obs 5,
// action 1) for the 1M and 5M presets; and BM_BmpcAct, the same planner for the one state an agent
// step acts on. Reanalysis runs every 10 updates, so per agent step it costs about 6 act calls:
// it is most of what a BMPC training step takes.
//
// Counters: states/s, and GFLOP/s from the GEMM FLOPs of one call (every row's MLP layers, the
// policy rows rolled out once, the first step's shared latent counted once per state), to read
// against BM_SgemmPeak of bench_engine. Threads: LUCID_THREADS, printed in the context.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "lucid/engine/rng.h"
#include "lucid/kernels/threading.h"
#include "lucid/models/bmpc/model.h"
#include "lucid/planners/batched_mppi.h"
#include "lucid/planners/planner.h"

namespace {

constexpr int kObsDim = 5;
constexpr int kActionDim = 1;

double row_flops(const lucid::models::tdmpc2::Mlp& m) {
  double f = 0.0;
  for (const auto& l : m.layers()) f += 2.0 * l.in * l.out;
  return f;
}

// GEMM FLOPs of one BatchedMppi call over `states` states on a V-head model (batched_mppi.h).
double call_flops(const lucid::models::bmpc::BmpcModel& m, const lucid::planners::PlannerConfig& pc,
                  int states) {
  const auto& lay = m.layout();
  const double step = row_flops(lay.reward) + row_flops(lay.dynamics), pi = row_flops(lay.pi);
  const double v = row_flops(lay.v.front()), K = m.config().num_q, H = pc.horizon;
  const double first =
      2.0 * m.config().latent_dim * (lay.reward.layers().front().out + lay.dynamics.layers().front().out);
  const double S = pc.num_samples, P = pc.num_pi_trajs, I = pc.iterations;
  return states *
         (row_flops(lay.encoder) + P * H * (pi + step) + I * ((S - P) * (H * step - first) + S * K * v));
}

void run(benchmark::State& state, int states) {
  const int size = static_cast<int>(state.range(0));
  lucid::models::bmpc::BmpcModel model(lucid::models::bmpc::bmpc_preset(size, kObsDim, kActionDim));
  lucid::Rng rng(11, 0);
  model.init(rng);
  lucid::planners::PlannerConfig pc = lucid::planners::planner_defaults("mppi");
  pc.action_dim = kActionDim;
  pc.latent_dim = model.config().latent_dim;
  lucid::planners::BatchedMppi planner(pc);
  planner.allocate(states);
  std::vector<float> obs_v(static_cast<std::size_t>(states) * kObsDim);
  rng.normal(obs_v.data(), obs_v.size());
  const lucid::Tensor obs = lucid::Tensor::from(obs_v, lucid::Shape{states, kObsDim});
  std::vector<lucid::Rng> streams;
  for (int b = 0; b < states; ++b) streams.emplace_back(3, b);
  planner.plan_batch(model, obs, streams, /*eval=*/true, /*t0=*/true);  // warm-up: first-touch of buffers
  for (auto _ : state) {
    const lucid::Tensor a = planner.plan_batch(model, obs, streams, /*eval=*/true, /*t0=*/true);
    benchmark::DoNotOptimize(a.data());
  }
  state.counters["states/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * states, benchmark::Counter::kIsRate);
  state.counters["FLOP/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * call_flops(model, pc, states), benchmark::Counter::kIsRate);
}

void BM_BmpcReanalyze(benchmark::State& state) { run(state, 60); }
void BM_BmpcAct(benchmark::State& state) { run(state, 1); }
BENCHMARK(BM_BmpcReanalyze)->Arg(1)->Arg(5)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_BmpcAct)->Arg(1)->Arg(5)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
