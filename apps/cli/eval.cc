// `lucid eval`: evaluates an agent on a task.
#include <iostream>

#include "cli/commands.h"

namespace lucid::cli {

int cmd_eval(const Config& config) {
  std::cerr << "lucid eval: not in this build yet\n";
  return kExitNotBuilt;
}

}  // namespace lucid::cli
