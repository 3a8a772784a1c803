// `lucid plan-bench`: times planner calls on a world model of a given size.
#include <iostream>

#include "cli/commands.h"

namespace lucid::cli {

int cmd_plan_bench(const Config& config) {
  std::cerr
      << "lucid plan-bench: planner '" << config.get_string("planner")
      << "' needs the TD-MPC2 world model, which is not in this build yet (issue 9); nothing was timed\n";
  return kExitNotBuilt;
}

}  // namespace lucid::cli
