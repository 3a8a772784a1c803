// `lucid train`: online training of an agent on a task, writing a run folder (see apps/README.md).
#include <iostream>

#include "cli/commands.h"

namespace lucid::cli {

int cmd_train(const Config& config) {
  // The agents (TD-MPC2, issue 9; BMPC, issue 7) have not landed: say so rather than pretend.
  std::cerr
      << "lucid train: agent '" << config.get_string("agent")
      << "' is not in this build yet (the TD-MPC2 agent and trainer are issue 9); nothing was trained\n";
  return kExitNotBuilt;
}

}  // namespace lucid::cli
