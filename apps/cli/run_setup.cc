// Shared setup of the subcommands (see run_setup.h).
#include "cli/run_setup.h"

#include <cblas.h>
#include <omp.h>

#include "lucid/agents/random_agent.h"
#include "lucid/agents/tdmpc2_agent.h"
#include "lucid/error.h"

namespace lucid::cli {

void set_threads(const Config& config) {
  const int n = static_cast<int>(config.get_int("threads"));
  LUCID_CHECK_AS(n >= 1, ConfigError) << "threads must be >= 1, got " << n;
  openblas_set_num_threads(n);
  omp_set_num_threads(n);
}

std::filesystem::path run_folder(const Config& config) {
  const std::string explicit_dir = config.get_string("run_dir");
  if (!explicit_dir.empty()) return explicit_dir;
  return std::filesystem::path(config.get_string("out_dir")) / config.get_string("task") /
         (config.get_string("agent") + "-" + config.get_string("planner")) /
         ("seed_" + std::to_string(config.get_int("seed")));
}

std::vector<std::string> agent_names() { return {"random", "tdmpc2"}; }

planners::PlannerConfig planner_config(const Config& c) {
  planners::PlannerConfig p;
  p.name = c.get_string("planner");
  p.horizon = static_cast<int>(c.get_int("horizon"));
  p.iterations = static_cast<int>(c.get_int("iterations"));
  p.num_samples = static_cast<int>(c.get_int("num_samples"));
  p.num_elites = static_cast<int>(c.get_int("num_elites"));
  p.num_pi_trajs = static_cast<int>(c.get_int("num_pi_trajs"));
  p.min_std = static_cast<float>(c.get_float("min_std"));
  p.max_std = static_cast<float>(c.get_float("max_std"));
  p.temperature = static_cast<float>(c.get_float("temperature"));
  return p;
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
    a.planner = planner_config(config);
    return std::make_unique<agents::Tdmpc2Agent>(a);
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
