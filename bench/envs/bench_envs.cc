// bench_envs — control steps per second of every registered DMC task (uniform random actions in
// [-1, 1], an env reset when its episode ends, as in data collection).
//   single/<task>                one env on the calling thread: the simulator's cost per control
//                                step (n_sub physics steps + mj_step1 + reward + observation)
//   pool/<task>/envs:E/threads:T E envs in an EnvPool with T workers: throughput of batched
//                                collection; on a machine with fewer than T free cores it shows
//                                the pool's overhead rather than its speed-up
// Counters: steps_per_s (control steps, all envs together) and physics_steps_per_s (x n_sub).
// Run: bench_envs --benchmark_filter=single   (set OMP_NUM_THREADS=1; the pool makes its own threads)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "dmc/dmc_env.h"
#include "dmc/random.h"
#include "lucid/envs/pool.h"
#include "lucid/envs/registry.h"

namespace {

using lucid::envs::EnvPool;

constexpr int kActionBank = 4096;  // pre-drawn actions, so the RNG is not timed

std::vector<float> action_bank(int dim) {
  lucid::envs::dmc::Random rng(1, 0);
  std::vector<float> a(static_cast<std::size_t>(kActionBank) * dim);
  for (float& x : a) x = static_cast<float>(rng.uniform(-1.0, 1.0));
  return a;
}

int substeps(const std::string& task);

void bm_single(benchmark::State& state, const std::string& task) {
  auto env = lucid::envs::make_env(task);
  const int ad = env->action_dim();
  const std::vector<float> actions = action_bank(ad);
  env->reset(0);
  std::uint64_t seed = 1;
  std::size_t k = 0;
  for (auto _ : state) {
    const lucid::envs::StepResult r = env->step(std::span<const float>(actions).subspan(k * ad, ad));
    benchmark::DoNotOptimize(r.reward);
    if (r.truncated || r.terminated || r.diverged) env->reset(seed++);
    k = (k + 1) % kActionBank;
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["steps_per_s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["physics_steps_per_s"] = benchmark::Counter(n * substeps(task), benchmark::Counter::kIsRate);
}

void bm_pool(benchmark::State& state, const std::string& task) {
  const int n_envs = static_cast<int>(state.range(0)), threads = static_cast<int>(state.range(1));
  EnvPool pool(task, n_envs, {}, threads);
  const int od = pool.observation_dim(), ad = pool.action_dim();
  const std::vector<float> bank = action_bank(ad);
  std::vector<float> obs(static_cast<std::size_t>(n_envs) * od), acts(static_cast<std::size_t>(n_envs) * ad);
  std::vector<double> rewards(n_envs);
  std::vector<EnvPool::Status> status(n_envs);
  std::vector<std::uint64_t> seeds(n_envs, 0);
  pool.reset(seeds, obs);
  std::uint64_t seed = 1;
  std::size_t k = 0;
  for (auto _ : state) {
    for (int i = 0; i < n_envs; ++i, k = (k + 1) % kActionBank)
      std::copy_n(bank.begin() + k * ad, ad, acts.begin() + static_cast<std::ptrdiff_t>(i) * ad);
    pool.step(acts, obs, rewards, status);
    for (int i = 0; i < n_envs; ++i)
      if (status[i].done()) pool.reset_one(i, seed++, std::span<float>(obs).subspan(i * od, od));
  }
  const double n = static_cast<double>(state.iterations()) * n_envs;
  state.counters["steps_per_s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["physics_steps_per_s"] = benchmark::Counter(n * substeps(task), benchmark::Counter::kIsRate);
}

int substeps(const std::string& task) {
  lucid::envs::EnvOptions o;
  o.rescale_actions = false;  // make_env then returns the DmcEnv itself
  auto env = lucid::envs::make_env(task, o);
  const auto* dmc = dynamic_cast<const lucid::envs::dmc::DmcEnv*>(env.get());
  return dmc != nullptr ? dmc->n_sub_steps() : 1;
}

}  // namespace

int main(int argc, char** argv) {
  for (const std::string& task : lucid::envs::task_names()) {
    benchmark::RegisterBenchmark(("single/" + task).c_str(), bm_single, task)->MinTime(0.2)->UseRealTime();
    benchmark::RegisterBenchmark(("pool/" + task).c_str(), bm_pool, task)
        ->ArgsProduct({{8}, {1, 2}})
        ->ArgNames({"envs", "threads"})
        ->MinTime(0.2)
        ->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
