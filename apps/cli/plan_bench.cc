// `lucid plan-bench`: times planner calls on a randomly initialised TD-MPC2 world model, or with
// agent=bmpc on a BMPC one (V heads; MPPI is then the BatchedMppi the BMPC agent acts with).
//
//   lucid plan-bench planner=dream-mpc,mppi model_size=5 obs_dim=24 action_dim=6 calls=50 format=json
//
// `planner` is one name or a comma-separated list; every planner runs on the same model and the
// same observation, one after the other, in this process. Each planner starts from its paper's
// defaults (planners::planner_defaults: Dream-MPC 5 candidates x 1 iteration, MPPI 512 x 6, ...)
// and takes a planning key (num_samples, num_elites, num_pi_trajs, iterations, horizon, mpc_lr,
// regularization_coefficient, action_reusage_coefficient, grad_clip_norm, min_std, max_std,
// temperature) only when the user set it. `warmup` untimed calls precede `calls` timed ones; the
// planner keeps its warm-start state across calls, as within an episode. enc_dim, mlp_dim,
// latent_dim and num_q (TD-MPC2 only) replace the preset's widths when > 0; `params` says what ran.
//
// Output per planner: planner, model_size, params, obs_dim, action_dim, threads, calls,
// median_ms, p90_ms, median_cpu_ms (process CPU time of a call, all threads: on a shared,
// oversubscribed machine it shows the work apart from the waiting), gflop_per_call (the GEMM FLOPs of one
// call, counted from the MLP shapes and the model evaluations the planner's algorithm makes: 2 * in * out per
// row per Linear, a backward GEMM costing the same as its forward), gflops = gflop_per_call / median,
// and on the CPU sgemm_peak_gflops (this machine's roof: OpenBLAS 1024^3 sgemm on the same threads,
// the best of 12 calls before and 12 after the planners, kernels/gemm_peak.h) with pct_of_peak =
// 100 gflops / sgemm_peak_gflops. A table by default, one JSON object per line with format=json.
//
// device=cuda (planner=mppi or dream-mpc, agent=tdmpc2; a binary that links a CUDA backend: `lucid` on a
// LUCID_CUDA build, `lucid_emu` on an emulator build): the observation and the model's queries go
// to the device (models/tdmpc2/model_cuda.h, planners/mppi/mppi_cuda.cc) and each result adds
// device, backend, launches_per_call (kernels launched from the host, cuBLAS calls included),
// graph_launches_per_call and graph_kernels_per_call (CUDA-graph launches and the kernels they
// replay; MPPI replays each iteration's sampling + rollout as a graph, Dream-MPC the whole call
// as one, planners/dream_mpc/dream_mpc_cuda.cc), all on lucid's compute
// stream and averaged over the timed calls, mlp_layers_per_call (MLP layer evaluations one call
// makes, each batched call of a layer counted once) and launches_per_mlp_layer = every kernel the
// GPU runs for the call (host-launched + graph-replayed; epilogues, noise and sums included) per
// MLP layer. The counts come from the emulator's per-stream
// counters; a native GPU does not count launches for us, so there they are null (use nsys,
// docs/profiling.md). Emulated timings are the emulator's, not a GPU's.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/cuda_hooks.h"
#include "cli/run_setup.h"
#include "lucid/engine/rng.h"
#include "lucid/error.h"
#include "lucid/kernels/gemm_peak.h"
#include "lucid/kernels/threading.h"
#include "lucid/models/bmpc/model.h"
#include "lucid/models/tdmpc2/model.h"
#include "lucid/planners/batched_mppi.h"
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

// Per-row forward FLOPs of the networks a planner calls. v_heads: the values read the latent
// only (BMPC's V heads), so no policy action is formed for them.
struct NetFlops {
  double enc = 0, dyn = 0, rew = 0, pi = 0, q = 0;
  int num_q = 0, action_dim = 0;
  bool v_heads = false;
  int latent_dim = 0;
  double first_layer_outs = 0;  // widths of the reward's and the dynamics' first layers
};

template <typename Model>
NetFlops net_flops(const Model& model, const models::tdmpc2::Mlp& value_head, bool v_heads) {
  const auto& lay = model.layout();
  NetFlops f{row_flops(lay.encoder), row_flops(lay.dynamics), row_flops(lay.reward),     row_flops(lay.pi),
             row_flops(value_head),  model.config().num_q,    model.config().action_dim, v_heads};
  f.latent_dim = model.config().latent_dim;
  f.first_layer_outs = lay.reward.layers().front().out + lay.dynamics.layers().front().out;
  return f;
}

// GEMM FLOPs of one plan() call for one observation, from the model evaluations each algorithm
// makes (see the planners' headers).
double flops_per_call(const std::string& name, const planners::PlannerConfig& pc, const NetFlops& f) {
  const double enc = f.enc, dyn = f.dyn, rew = f.rew, pi = f.pi, q = f.q;
  const double H = pc.horizon, K = f.num_q;
  const int extra = f.action_dim >= 20 ? 2 : 0;
  const double step = rew + dyn;
  if (name == "mppi") {
    // TD-MPC2's Mppi rolls the policy rows out once per call, the Gaussian rows every iteration,
    // and every rollout's first step multiplies the shared start latent by the first layers once
    // (a GEMV), so per row it costs only the action columns of those layers.
    const double S = pc.num_samples, P = pc.num_pi_trajs, I = pc.iterations + extra;
    const double first = 2.0 * f.latent_dim * f.first_layer_outs;
    if (f.v_heads)  // BatchedMppi (BMPC): the policy rows' rollout in full once, every V head at z_H
                    // (per-state head pairs), no pi(z_H).
      return enc + P * H * (pi + step) + I * ((S - P) * (H * step - first) + S * K * q);
    return enc + P * (H * pi + H * step - first) + I * ((S - P) * (H * step - first) + S * (pi + 2 * q));
  }
  if (f.v_heads && name == "dream-mpc") {
    // BMPC's action gradient: the terminal V pair without a policy action; the penalty covers all
    // K heads at z_1..z_H, no gradient.
    const double N = pc.num_pi_trajs, I = pc.iterations + extra;
    const double path = N * (H * step + 2 * q);
    const double unc = pc.regularization_coefficient != 0.f ? N * H * K * q : 0.0;
    return enc + N * (H * pi + (H - 1) * dyn) + I * (2 * path + unc);
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
  bool counted = false;  // device launch counts available
  double launches = 0, graph_launches = 0, graph_kernels = 0, mlp_layers = 0;
};

// MLP layer evaluations of one TD-MPC2 MPPI call for one observation (see mppi.h): encode, the
// policy rows' H steps of pi, reward and dynamics once, then per iteration H steps of reward and
// dynamics for the sampled rows and the terminal pi and two Q heads.
double mppi_layers_per_call(const planners::PlannerConfig& pc, const models::tdmpc2::Tdmpc2Layout& lay,
                            int num_q) {
  auto n = [](const models::tdmpc2::Mlp& m) { return static_cast<double>(m.layers().size()); };
  const double H = pc.horizon, I = pc.iterations + (pc.action_dim >= 20 ? 2 : 0);
  const double step = n(lay.reward) + n(lay.dynamics);
  const double pi_rows = pc.num_pi_trajs > 0 ? H * (n(lay.pi) + step) : 0.0;
  return n(lay.encoder) + pi_rows + I * (H * step + n(lay.pi) + std::min(num_q, 2) * n(lay.q.front()));
}

// MLP layer evaluations of one device Dream-MPC call for one observation (dream_mpc_cuda.cc):
// encode, the prior's H policy and H - 1 dynamics steps, then per iteration the rollout's H
// reward + dynamics steps, the terminal pi and every Q head (on the device all heads run: the
// pair is drawn at replay time), each forward and again in the input-only backward.
double dream_layers_per_call(const planners::PlannerConfig& pc, const models::tdmpc2::Tdmpc2Layout& lay,
                             int num_q) {
  auto n = [](const models::tdmpc2::Mlp& m) { return static_cast<double>(m.layers().size()); };
  const double H = pc.horizon, I = pc.iterations + (pc.action_dim >= 20 ? 2 : 0);
  const double path = H * (n(lay.reward) + n(lay.dynamics)) + n(lay.pi) + num_q * n(lay.q.front());
  return n(lay.encoder) + H * n(lay.pi) + (H - 1) * n(lay.dynamics) + I * 2 * path;
}

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
  const Device device = prepare_runtime(config, "plan-bench");
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

  const std::string agent = config.get_string("agent");
  LUCID_CHECK_AS(agent == "tdmpc2" || agent == "bmpc", ConfigError)
      << "plan-bench: agent must be tdmpc2 or bmpc, got '" << agent << "'";
  std::unique_ptr<models::WorldModel> model_ptr;
  NetFlops nets;
  std::size_t params = 0;
  Rng init_rng(seed, 1);
  const models::tdmpc2::ArchitectureOverrides overrides = architecture_overrides(config);
  if (agent == "bmpc") {
    auto m =
        std::make_unique<models::bmpc::BmpcModel>(models::bmpc::bmpc_preset(model_size, obs_dim, action_dim));
    m->init(init_rng);
    nets = net_flops(*m, m->layout().v.front(), true);
    params = std::as_const(*m).params().size();
    model_ptr = std::move(m);
  } else {
    models::tdmpc2::Tdmpc2Config mc = models::tdmpc2::tdmpc2_preset(model_size, obs_dim, action_dim);
    models::tdmpc2::apply_overrides(mc, overrides);
    auto m = std::make_unique<models::tdmpc2::Tdmpc2Model>(mc);
    m->init(init_rng);
    nets = net_flops(*m, m->layout().q.front(), false);
    params = std::as_const(*m).params().size();
    model_ptr = std::move(m);
  }
  const models::WorldModel& model = *model_ptr;
  const bool on_device = device == Device::kCuda;
  if (on_device) {
    LUCID_CHECK_AS(agent == "tdmpc2", ConfigError) << "plan-bench device=cuda: agent must be tdmpc2";
    for (const std::string& name : split_names(config.get_string("planner")))
      LUCID_CHECK_AS(name == "mppi" || name == "dream-mpc", ConfigError)
          << "plan-bench device=cuda: planner " << name
          << " runs on the CPU only (mppi and dream-mpc run on the device)";
  }
  const CudaHooks* hooks = on_device ? cuda_hooks() : nullptr;
  // Kernel and graph launches on the compute stream so far; false when they cannot be counted.
  auto counts = [&](std::uint64_t* kernels, std::uint64_t* graphs, std::uint64_t* graph_kernels) {
    return hooks != nullptr && hooks->launch_counts(kernels, graphs, graph_kernels);
  };
  std::vector<float> obs_values(obs_dim);
  Rng obs_rng(seed, 2);
  obs_rng.normal(obs_values.data(), obs_values.size());
  const Tensor obs = Tensor::from(obs_values, Shape{1, obs_dim}).to(device);

  // The roof on the CPU, measured around the planners (the best of both sides) so that a host
  // that slows down or speeds up during the run shows in the percentage rather than hiding it.
  double peak_gflops = on_device ? 0.0 : kernels::sgemm_peak_gflops(kernels::num_threads());
  std::vector<Result> results;
  for (const std::string& name : split_names(config.get_string("planner"))) {
    planners::PlannerConfig pc = planner_config(config, name);
    pc.action_dim = action_dim;
    pc.latent_dim = model.latent_dim();
    std::unique_ptr<planners::Planner> planner;
    if (agent == "bmpc" && name == "mppi")
      planner = std::make_unique<planners::BatchedMppi>(pc);
    else
      planner = planners::make_planner(pc);
    planner->allocate(1);
    Rng rng(seed, 3);
    for (int i = 0; i < warmup; ++i) planner->plan(model, obs, rng, true);
    std::vector<double> ms, cpu_ms;
    ms.reserve(calls);
    cpu_ms.reserve(calls);
    Result r;
    std::uint64_t k0 = 0, g0 = 0, gk0 = 0, k1 = 0, g1 = 0, gk1 = 0;
    r.counted = counts(&k0, &g0, &gk0);
    for (int i = 0; i < calls; ++i) {
      const double c0 = process_cpu_ms();
      const auto t0 = std::chrono::steady_clock::now();
      const Tensor a = planner->plan(model, obs, rng, true);
      const auto t1 = std::chrono::steady_clock::now();
      cpu_ms.push_back(process_cpu_ms() - c0);
      const float a0 = a.is_cpu() ? a.data()[0] : a.to(Device::kCpu).data()[0];
      LUCID_CHECK(std::isfinite(a0)) << "plan-bench: " << name << " returned a non-finite action";
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    if (r.counted && counts(&k1, &g1, &gk1)) {  // the finiteness reads above are copies, not launches
      r.launches = static_cast<double>(k1 - k0) / calls;
      r.graph_launches = static_cast<double>(g1 - g0) / calls;
      r.graph_kernels = static_cast<double>(gk1 - gk0) / calls;
    }
    if (on_device) {
      const auto& layout = std::as_const(dynamic_cast<const models::tdmpc2::Tdmpc2Model&>(model)).layout();
      r.mlp_layers = name == "mppi" ? mppi_layers_per_call(pc, layout, model.num_values())
                                    : dream_layers_per_call(pc, layout, model.num_values());
    }
    std::sort(ms.begin(), ms.end());
    r.planner = name;
    r.median_ms = median(ms);
    r.median_cpu_ms = median(cpu_ms);
    r.p90_ms = ms[std::min(ms.size() - 1, static_cast<std::size_t>(0.9 * static_cast<double>(ms.size())))];
    r.gflop = flops_per_call(name, pc, nets) * 1e-9;
    results.push_back(r);
  }

  if (!on_device) peak_gflops = std::max(peak_gflops, kernels::sgemm_peak_gflops(kernels::num_threads()));
  auto pct_of_peak = [&](const Result& r) { return 100.0 * r.gflop / (r.median_ms * 1e-3) / peak_gflops; };

  const long long threads = config.get_int("threads");
  if (format == "json") {
    for (const Result& r : results) {
      nlohmann::json j = {{"planner", r.planner},
                          {"agent", agent},
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
      if (!on_device) {
        j["sgemm_peak_gflops"] = peak_gflops;
        j["pct_of_peak"] = pct_of_peak(r);
      } else {
        j["device"] = "cuda";
        j["backend"] = hooks->backend;
        j["mlp_layers_per_call"] = r.mlp_layers;
        j["launches_per_call"] = r.counted ? nlohmann::json(r.launches) : nlohmann::json(nullptr);
        j["graph_launches_per_call"] = r.counted ? nlohmann::json(r.graph_launches) : nlohmann::json(nullptr);
        j["graph_kernels_per_call"] = r.counted ? nlohmann::json(r.graph_kernels) : nlohmann::json(nullptr);
        j["launches_per_mlp_layer"] = r.counted
                                          ? nlohmann::json((r.launches + r.graph_kernels) / r.mlp_layers)
                                          : nlohmann::json(nullptr);
      }
      std::cout << j.dump() << "\n";
    }
    return 0;
  }
  std::printf("plan-bench: %s %dM (%zu params), obs %d, action %d, %lld threads, %d calls after %d warm-up\n",
              agent == "bmpc" ? "BMPC" : "TD-MPC2", model_size, params, obs_dim, action_dim, threads, calls,
              warmup);
  if (!on_device)
    std::printf(
        "roof: OpenBLAS sgemm 1024^3 on %d threads, %.1f GFLOP/s (best of 24 calls around the runs)\n",
        kernels::num_threads(), peak_gflops);
  std::printf("%-16s %11s %11s %14s %15s %9s %9s\n", "planner", "median_ms", "p90_ms", "median_cpu_ms",
              "gflop_per_call", "gflops", on_device ? "" : "pct_peak");
  for (const Result& r : results) {
    std::printf("%-16s %11.3f %11.3f %14.3f %15.4f %9.2f", r.planner.c_str(), r.median_ms, r.p90_ms,
                r.median_cpu_ms, r.gflop, r.gflop / (r.median_ms * 1e-3));
    if (!on_device) std::printf(" %8.1f%%", pct_of_peak(r));
    std::printf("\n");
  }
  for (const Result& r : results) {
    if (!on_device) break;
    if (r.counted)
      std::printf(
          "%s on CUDA (%s): per call %.1f kernel launches from the host, %.1f graph launches (%.1f kernels "
          "in them), %.0f MLP layers: %.2f kernels per MLP layer\n",
          r.planner.c_str(), hooks->backend, r.launches, r.graph_launches, r.graph_kernels, r.mlp_layers,
          (r.launches + r.graph_kernels) / r.mlp_layers);
    else
      std::printf("%s on CUDA (%s): launches are not counted on a native GPU (nsys: docs/profiling.md)\n",
                  r.planner.c_str(), hooks->backend);
  }
  return 0;
}

}  // namespace lucid::cli
