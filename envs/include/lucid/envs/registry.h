// The task registry: one table maps DMC task names ("cartpole-swingup", "walker-walk") to
// factories, and make_env() wraps the task the way TD-MPC2 uses it (action rescale, action
// repeat, optional agent-step limit). An unknown name throws lucid::EnvError listing the known ones.
//
// Model files: lucid's own MJCF under envs/assets/<domain>.xml (LUCID_ASSETS overrides the
// folder), or dm_control's official models when EnvOptions::dmc_xml_dir or the LUCID_DMC_XML
// environment variable names a dm_control `suite/` folder (the option wins over the variable).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lucid/envs/env.h"

namespace lucid::envs {

// Every member has a default, so designated initializers (EnvOptions{.seed = 3}) compile warning-free.
struct EnvOptions {
  // Key of the env's RNG stream. reset(s) seeds the task's generator from (s, seed), so two envs
  // built with different option seeds draw different episodes from the same reset seed; the
  // vectorized pool gives env i the seed `seed + i`. With seed 0, reset(s) draws exactly what
  // dm_control's first episode draws with task_kwargs={'random': s} (numpy's RandomState(s)).
  std::uint64_t seed = 0;
  // Control steps per agent step, rewards summed (TD-MPC2 uses 2). 1 = no repeat.
  int action_repeat = 1;
  // Agent steps per episode; 0 keeps the task's own limit (1000 control steps for every DMC task,
  // i.e. 1000 / action_repeat agent steps).
  int max_episode_steps = 0;
  // Map the agent's actions from [-1, 1] to the actuator ctrlrange (identity for DMC tasks, which
  // all use [-1, 1], but kept so that any model with other ranges works).
  bool rescale_actions = true;
  // > 0: observations are rendered frames of pixel_size x pixel_size (PixelObservations: 3 x H x W
  // floats in [0, 1]) instead of the task's state vector.
  int pixel_size = 0;
  // dm_control `suite/` folder holding the official models; empty: $LUCID_DMC_XML, else lucid's own.
  std::filesystem::path dmc_xml_dir{};
  // lucid's own models; empty: $LUCID_ASSETS, else the source tree's envs/assets.
  std::filesystem::path assets_dir{};
};

// Builds `task` with its wrappers. Throws lucid::EnvError for an unknown task (the message lists
// task_names()), lucid::IoError when the model file is missing or does not compile.
std::unique_ptr<Env> make_env(const std::string& task, const EnvOptions& options = {});

// Every registered task name, sorted.
std::vector<std::string> task_names();

// Where the model of `domain` ("cartpole") is read from under `options` (see the file comment).
std::filesystem::path model_path(const std::string& domain, const EnvOptions& options = {});

}  // namespace lucid::envs
