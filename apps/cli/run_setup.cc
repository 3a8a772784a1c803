// Shared setup of the subcommands (see run_setup.h).
#include "cli/run_setup.h"

#include <cstdint>
#include <utility>

#include "cli/cuda_hooks.h"
#include "lucid/agents/bmpc_agent.h"
#include "lucid/agents/random_agent.h"
#include "lucid/agents/tdmpc2_agent.h"
#include "lucid/error.h"
#include "lucid/kernels/threading.h"

namespace lucid::cli {

Device prepare_runtime(const Config& config, const char* cuda_user) {
  const std::string device = config.get_string("device");
  LUCID_CHECK_AS(device == "cpu" || device == "cuda", ConfigError)
      << "device must be cpu or cuda, got '" << device << "'";
  if (device == "cuda") {
    LUCID_CHECK_AS(cuda_user != nullptr, ConfigError)
        << "device=cuda is not available for this subcommand: on the device lucid runs TD-MPC2 "
        << "inference and MPPI (`lucid plan-bench planner=mppi device=cuda`); training and evaluation "
        << "run on the CPU";
    const CudaHooks* hooks = cuda_hooks();
    LUCID_CHECK_AS(hooks != nullptr, ConfigError)
        << "device=cuda is not available: this lucid binary links no CUDA backend (build with "
        << "LUCID_CUDA=ON for a GPU, or run lucid_emu from a LUCID_CUDA_EMU build for the emulated device)";
    hooks->use_device();
  }
  const int n = static_cast<int>(config.get_int("threads"));
  LUCID_CHECK_AS(n >= 1, ConfigError) << "threads must be >= 1, got " << n;
  // The kernels' thread pool is set explicitly: left alone, its lazy setup would reset OpenMP to
  // the core count on first use.
  kernels::set_num_threads(n);  // and OpenBLAS to 1: lucid splits large GEMMs over its own threads
  return device == "cuda" ? Device::kCuda : Device::kCpu;
}

std::filesystem::path run_folder(const Config& config) {
  const std::string explicit_dir = config.get_string("run_dir");
  if (!explicit_dir.empty()) return explicit_dir;
  return std::filesystem::path(config.get_string("out_dir")) / config.get_string("task") /
         (config.get_string("agent") + "-" + config.get_string("planner")) /
         ("seed_" + std::to_string(config.get_int("seed")));
}

std::vector<std::string> agent_names() { return {"random", "tdmpc2", "bmpc"}; }

planners::PlannerConfig planner_config(const Config& config, const std::string& name) {
  planners::PlannerConfig pc = planners::planner_defaults(name);
  auto take_int = [&](const char* key, int& field) {
    if (config.is_set(key)) field = static_cast<int>(config.get_int(key));
  };
  auto take_float = [&](const char* key, float& field) {
    if (config.is_set(key)) field = static_cast<float>(config.get_float(key));
  };
  take_int("num_samples", pc.num_samples);
  take_int("num_elites", pc.num_elites);
  take_int("num_pi_trajs", pc.num_pi_trajs);
  take_int("iterations", pc.iterations);
  take_int("horizon", pc.horizon);
  take_float("mpc_lr", pc.mpc_lr);
  take_float("regularization_coefficient", pc.regularization_coefficient);
  take_float("action_reusage_coefficient", pc.action_reusage_coefficient);
  take_float("grad_clip_norm", pc.grad_clip_norm);
  take_float("min_std", pc.min_std);
  take_float("max_std", pc.max_std);
  take_float("temperature", pc.temperature);
  return pc;
}

models::tdmpc2::ArchitectureOverrides architecture_overrides(const Config& config) {
  const auto get = [&](const char* key) { return static_cast<int>(config.get_int(key)); };
  const models::tdmpc2::ArchitectureOverrides o{.enc_dim = get("enc_dim"),
                                                .mlp_dim = get("mlp_dim"),
                                                .latent_dim = get("latent_dim"),
                                                .num_q = get("num_q")};
  if (config.get_string("agent") == "bmpc")
    for (const char* key : {"enc_dim", "mlp_dim", "latent_dim", "num_q"})
      LUCID_CHECK_AS(get(key) == 0, ConfigError)
          << "agent=bmpc takes its architecture from model_size; " << key << "=" << get(key)
          << " is only supported with agent=tdmpc2";
  return o;
}

void read_legacy_architecture_as_preset(Config& c) {
  const std::pair<const char*, std::int64_t> legacy[] = {
      {"enc_dim", 256}, {"mlp_dim", 512}, {"latent_dim", 512}, {"num_q", 5}};
  for (const auto& [key, value] : legacy)
    if (c.get_int(key) != value) return;
  for (const auto& [key, value] : legacy) c.set(key, "0");
}

std::unique_ptr<agents::Agent> make_agent(const Config& config, int obs_dim, int action_dim) {
  const std::string name = config.get_string("agent");
  if (name == "random")
    return std::make_unique<agents::RandomAgent>(action_dim,
                                                 static_cast<std::uint64_t>(config.get_int("seed")));
  if (name == "tdmpc2") {
    agents::Tdmpc2AgentConfig a;
    a.obs_dim = obs_dim;
    a.action_dim = action_dim;
    a.model_size = static_cast<int>(config.get_int("model_size"));
    a.architecture = architecture_overrides(config);
    a.batch_size = static_cast<int>(config.get_int("batch_size"));
    a.horizon = static_cast<int>(config.get_int("horizon"));
    a.rho = static_cast<float>(config.get_float("rho"));
    a.lr = static_cast<float>(config.get_float("lr"));
    a.enc_lr_scale = static_cast<float>(config.get_float("enc_lr_scale"));
    a.consistency_coef = static_cast<float>(config.get_float("consistency_coef"));
    a.reward_coef = static_cast<float>(config.get_float("reward_coef"));
    a.value_coef = static_cast<float>(config.get_float("value_coef"));
    a.entropy_coef = static_cast<float>(config.get_float("entropy_coef"));
    a.grad_clip_norm = static_cast<float>(config.get_float("grad_clip_norm"));
    a.tau = static_cast<float>(config.get_float("tau"));
    a.episode_length = static_cast<int>(config.get_int("episode_length"));
    a.mpc = config.get_bool("mpc");
    a.seed = static_cast<std::uint64_t>(config.get_int("seed"));
    a.planner = planner_config(config, config.get_string("planner"));
    return std::make_unique<agents::Tdmpc2Agent>(a);
  }
  if (name == "bmpc") {
    architecture_overrides(config);  // refuses overrides for bmpc
    agents::BmpcAgentConfig a;
    a.obs_dim = obs_dim;
    a.action_dim = action_dim;
    a.model_size = static_cast<int>(config.get_int("model_size"));
    a.batch_size = static_cast<int>(config.get_int("batch_size"));
    a.horizon = static_cast<int>(config.get_int("horizon"));
    a.rho = static_cast<float>(config.get_float("rho"));
    a.lr = static_cast<float>(config.get_float("lr"));
    a.enc_lr_scale = static_cast<float>(config.get_float("enc_lr_scale"));
    a.consistency_coef = static_cast<float>(config.get_float("consistency_coef"));
    a.reward_coef = static_cast<float>(config.get_float("reward_coef"));
    a.value_coef = static_cast<float>(config.get_float("value_coef"));
    a.entropy_coef = static_cast<float>(config.get_float("entropy_coef"));
    a.grad_clip_norm = static_cast<float>(config.get_float("grad_clip_norm"));
    a.tau = static_cast<float>(config.get_float("tau"));
    a.episode_length = static_cast<int>(config.get_int("episode_length"));
    a.mpc = config.get_bool("mpc");
    a.reanalyze_interval = static_cast<int>(config.get_int("reanalyze_interval"));
    a.reanalyze_batch_size = static_cast<int>(config.get_int("reanalyze_batch_size"));
    a.seed = static_cast<std::uint64_t>(config.get_int("seed"));
    a.planner = planner_config(config, config.get_string("planner"));
    return std::make_unique<agents::BmpcAgent>(a);
  }
  std::string built;
  for (const auto& n : agent_names()) built += (built.empty() ? "" : ", ") + n;
  LUCID_FAIL(ConfigError) << "agent '" << name << "' is not in this build (built: " << built << ")";
}

agents::TrainerOptions trainer_options(const Config& c) {
  agents::TrainerOptions o;
  o.task = c.get_string("task");
  o.seed = static_cast<std::uint64_t>(c.get_int("seed"));
  o.steps = c.get_int("steps");
  o.episode_length = static_cast<int>(c.get_int("episode_length"));
  o.seed_steps = c.get_int("seed_steps") >= 0
                     ? c.get_int("seed_steps")
                     : std::max<std::int64_t>(1000, 5 * static_cast<std::int64_t>(o.episode_length));
  o.eval_freq = c.get_int("eval_freq");
  o.eval_episodes = static_cast<int>(c.get_int("eval_episodes"));
  o.action_repeat = static_cast<int>(c.get_int("action_repeat"));
  o.checkpoint_freq = c.get_int("checkpoint_freq");
  o.buffer_size = c.get_int("buffer_size");
  o.horizon = static_cast<int>(c.get_int("horizon"));
  o.run_dir = run_folder(c);
  o.dmc_xml = c.get_string("dmc_xml");
  o.config_yaml = c.to_yaml();
  o.summary = {
      {"task", o.task}, {"agent", c.get_string("agent")},        {"planner", c.get_string("planner")},
      {"seed", o.seed}, {"model_size", c.get_int("model_size")}, {"steps", o.steps}};
  return o;
}

}  // namespace lucid::cli
