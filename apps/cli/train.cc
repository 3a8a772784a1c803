// `lucid train`: online training of an agent on a task, writing a run folder (apps/README.md).
// Interrupt it at any time (Ctrl-C); the same command resumes from the last checkpoint.
#include <iostream>

#include "cli/commands.h"
#include "cli/run_setup.h"
#include "lucid/agents/trainer.h"

namespace lucid::cli {

int cmd_train(const Config& config) {
  prepare_runtime(config);
  const agents::TrainerOptions options = trainer_options(config);
  return agents::train(options,
                       [&](int obs_dim, int action_dim) { return make_agent(config, obs_dim, action_dim); });
}

}  // namespace lucid::cli
