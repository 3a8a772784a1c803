// `lucid plan-bench`: times planner calls on a randomly initialised TD-MPC2 world model.
//
//   lucid plan-bench planner=dream-mpc,mppi model_size=5 obs_dim=24 action_dim=6 calls=50 format=json
//
// `planner` is one name or a comma-separated list; every planner runs on the same model and the
// same observation, one after the other, in this process. Each planner starts from its paper's
// defaults (planners::planner_defaults: Dream-MPC 5 candidates x 1 iteration, MPPI 512 x 6, ...)
// and takes a planning key (num_samples, num_elites, num_pi_trajs, iterations, horizon, mpc_lr,
// regularization_coefficient, action_reusage_coefficient, grad_clip_norm, min_std, max_std,
// temperature) only when the user set it. `warmup` untimed calls precede `calls` timed ones; the
// planner keeps its warm-start state across calls, as within an episode.
//
// Output per planner: planner, model_size, params, obs_dim, action_dim, threads, calls,
// median_ms, p90_ms, median_cpu_ms (process CPU time of a call, all threads: on a shared,
// oversubscribed machine it shows the work apart from the waiting), gflop_per_call (the GEMM FLOPs of one
// call, counted from the MLP shapes and the model evaluations the planner's algorithm makes: 2 * in * out per
// row per Linear, a backward GEMM costing the same as its forward) and gflops = gflop_per_call / median. A
// table by default, one JSON object per line with format=json. This build has no CUDA backend for the
// planners, so launches_per_call / graph_launches_per_call are not reported.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/run_setup.h"
#include "lucid/engine/rng.h"
#include "lucid/error.h"
#include "lucid/models/tdmpc2/model.h"
#include "lucid/planners/planner.h"

namespace lucid::cli {
namespace {

std::vector<std::string> split_names(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  LUCID_CHECK_AS(!out.empty(), ConfigError) << "plan-bench: planner must name at least one planner";
  return out;
}

// Forward GEMM FLOPs of one row through an MLP.
double row_flops(const models::tdmpc2::Mlp& m) {
  double f = 0.0;
  for (const auto& l : m.layers()) f += 2.0 * l.in * l.out;
  return f;
}

// GEMM FLOPs of one plan() call for one observation, from the model evaluations each algorithm
// makes (see the planners' headers).
double flops_per_call(const std::string& name, const planners::PlannerConfig& pc,
                      const models::tdmpc2::Tdmpc2Model& model) {
  const auto& lay = model.layout();
  const auto& mc = model.config();
  const double enc = row_flops(lay.encoder), dyn = row_flops(lay.dynamics), rew = row_flops(lay.reward);
  const double pi = row_flops(lay.pi), q = row_flops(lay.q.front());
  const double H = pc.horizon, K = mc.num_q;
  const int extra = mc.action_dim >= 20 ? 2 : 0;
  const double step = rew + dyn;
  if (name == "mppi") {
    const double S = pc.num_samples, P = pc.num_pi_trajs, I = pc.iterations + extra;
    return enc + P * (H * pi + (H - 1) * dyn) + I * S * (H * step + pi + 2 * q);
  }
  if (name == "dream-mpc") {
    const double N = pc.num_pi_trajs, I = pc.iterations + extra;
    const double path = N * (H * step + pi + 2 * q);  // forward; the input-only backward costs the same
    // The penalty's ensemble batch covers all K heads at H + 1 latents, the terminal pair included.
    const double unc = pc.regularization_coefficient != 0.f ? N * (H + 1) * K * q - N * 2 * q : 0.0;
    return enc + N * (H * pi + (H - 1) * dyn) + I * (2 * path + unc);
  }
  if (name == "grad-mpc") {
    const double C = pc.num_samples, I = pc.iterations;
    return enc + (2 * I + 1) * C * H * step;
  }
  if (name == "policy-grad-mpc") {
    const double C = pc.num_pi_trajs, I = pc.iterations;
    return enc + C * (H * pi + (H - 1) * dyn) + (2 * I + 1) * C * (H * step + pi + K * q);
  }
  if (name == "cem") return enc + pc.iterations * pc.num_samples * (H * step + pi + K * q);
  if (name == "policy") return enc + pi;
  return 0.0;
}

struct Result {
  std::string planner;
  double median_ms = 0, p90_ms = 0, median_cpu_ms = 0, gflop = 0;
};

double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int cmd_plan_bench(const Config& config) {
  prepare_runtime(config);
  const std::string format = config.get_string("format");
  LUCID_CHECK_AS(format == "table" || format == "json", ConfigError)
      << "format must be table or json, got '" << format << "'";
  const int model_size = static_cast<int>(config.get_int("model_size"));
  const int obs_dim = static_cast<int>(config.get_int("obs_dim"));
  const int action_dim = static_cast<int>(config.get_int("action_dim"));
  const int calls = static_cast<int>(config.get_int("calls"));
  const int warmup = static_cast<int>(config.get_int("warmup"));
  LUCID_CHECK_AS(calls >= 1 && warmup >= 0, ConfigError) << "plan-bench: calls >= 1 and warmup >= 0 required";
  const auto seed = static_cast<std::uint64_t>(config.get_int("seed"));

  models::tdmpc2::Tdmpc2Model model(models::tdmpc2::tdmpc2_preset(model_size, obs_dim, action_dim));
  Rng init_rng(seed, 1);
  model.init(init_rng);
  std::vector<float> obs_values(obs_dim);
  Rng obs_rng(seed, 2);
  obs_rng.normal(obs_values.data(), obs_values.size());
  const Tensor obs = Tensor::from(obs_values, Shape{1, obs_dim});

  std::vector<Result> results;
  for (const std::string& name : split_names(config.get_string("planner"))) {
    planners::PlannerConfig pc = planner_config(config, name);
    pc.action_dim = action_dim;
    pc.latent_dim = model.config().latent_dim;
    auto planner = planners::make_planner(pc);
    planner->allocate(1);
    Rng rng(seed, 3);
    for (int i = 0; i < warmup; ++i) planner->plan(model, obs, rng, true);
    std::vector<double> ms, cpu_ms;
    ms.reserve(calls);
    cpu_ms.reserve(calls);
    for (int i = 0; i < calls; ++i) {
      const double c0 = process_cpu_ms();
      const auto t0 = std::chrono::steady_clock::now();
      const Tensor a = planner->plan(model, obs, rng, true);
      const auto t1 = std::chrono::steady_clock::now();
      cpu_ms.push_back(process_cpu_ms() - c0);
      LUCID_CHECK(std::isfinite(a.data()[0])) << "plan-bench: " << name << " returned a non-finite action";
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    Result r;
    r.planner = name;
    r.median_ms = median(ms);
    r.median_cpu_ms = median(cpu_ms);
    r.p90_ms = ms[std::min(ms.size() - 1, static_cast<std::size_t>(0.9 * static_cast<double>(ms.size())))];
    r.gflop = flops_per_call(name, pc, model) * 1e-9;
    results.push_back(r);
  }

  const std::size_t params = model.params().size();
  const long long threads = config.get_int("threads");
  if (format == "json") {
    for (const Result& r : results) {
      const nlohmann::json j = {{"planner", r.planner},
                                {"model_size", model_size},
                                {"params", params},
                                {"obs_dim", obs_dim},
                                {"action_dim", action_dim},
                                {"threads", threads},
                                {"calls", calls},
                                {"median_ms", r.median_ms},
                                {"p90_ms", r.p90_ms},
                                {"median_cpu_ms", r.median_cpu_ms},
                                {"gflop_per_call", r.gflop},
                                {"gflops", r.gflop / (r.median_ms * 1e-3)}};
      std::cout << j.dump() << "\n";
    }
    return 0;
  }
  std::printf(
      "plan-bench: TD-MPC2 %dM (%zu params), obs %d, action %d, %lld threads, %d calls after %d warm-up\n",
      model_size, params, obs_dim, action_dim, threads, calls, warmup);
  std::printf("%-16s %11s %11s %14s %15s %9s\n", "planner", "median_ms", "p90_ms", "median_cpu_ms",
              "gflop_per_call", "gflops");
  for (const Result& r : results)
    std::printf("%-16s %11.3f %11.3f %14.3f %15.4f %9.2f\n", r.planner.c_str(), r.median_ms, r.p90_ms,
                r.median_cpu_ms, r.gflop, r.gflop / (r.median_ms * 1e-3));
  return 0;
}

}  // namespace lucid::cli
