// Helpers the subcommands share: thread settings, the run folder of a config, and the agent a
// config names.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/config.h"
#include "lucid/agents/agent.h"
#include "lucid/agents/trainer.h"
#include "lucid/models/tdmpc2/model.h"
#include "lucid/planners/planner.h"

namespace lucid::cli {

// Applies the runtime keys every subcommand shares. `threads` goes to lucid's kernel threads
// (OpenMP); OpenBLAS runs single-threaded inside them, so the two never oversubscribe the cores.
// `device=cuda` is accepted only where the caller runs on the device (cuda_user: what it runs
// there, e.g. "plan-bench"; nullptr: CPU only) and only in a binary that links a CUDA backend
// (cli/cuda_hooks.h), which it then registers; otherwise it is refused with a ConfigError rather
// than silently run on the CPU. Returns the device.
Device prepare_runtime(const Config& config, const char* cuda_user = nullptr);

// run_dir if set, else <out_dir>/<task>/<agent>-<planner>/seed_<seed>.
std::filesystem::path run_folder(const Config& config);

// enc_dim, mlp_dim, latent_dim and num_q of the config (0: the model_size preset's). For
// agent=bmpc, whose model is built from the preset alone, nonzero values are a ConfigError rather
// than silently ignored.
models::tdmpc2::ArchitectureOverrides architecture_overrides(const Config& config);

// Run folders written before the architecture keys were read carry config.yaml's old values for
// them (enc_dim 256, mlp_dim 512, latent_dim 512, num_q 5), which never reached the model: the
// model was the model_size preset. Reading such a run back (lucid eval), this resets exactly that
// quadruple to 0 (the preset). For model_size 5 it is the preset anyway; only a run that asked for
// those four widths on another preset on purpose is read as its preset, and its checkpoint's size
// then says so.
void read_legacy_architecture_as_preset(Config& run_config);

// Names `agent=` accepts in this build.
std::vector<std::string> agent_names();

// The agent named by `agent=` for these env sizes; throws ConfigError naming the agents built.
std::unique_ptr<agents::Agent> make_agent(const Config& config, int obs_dim, int action_dim);

// The planner's own defaults (planners::planner_defaults: Dream-MPC 5 candidates x 1 iteration,
// MPPI 512 x 6, ...), overridden only by the planning keys the user set (TD-MPC2's key names).
planners::PlannerConfig planner_config(const Config& config, const std::string& name);

// Trainer options from the config (keys as in TD-MPC2's config.yaml).
agents::TrainerOptions trainer_options(const Config& config);

}  // namespace lucid::cli
