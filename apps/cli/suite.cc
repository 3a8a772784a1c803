// `lucid suite`: runs a benchmark suite; the runner lives in apps/suite/.
#include <iostream>

#include "cli/commands.h"

namespace lucid::cli {

int cmd_suite(const SuiteArgs& args) {
  std::cerr << "lucid suite: the suite runner is not in this build yet (issue 8)\n";
  return kExitNotBuilt;
}

}  // namespace lucid::cli
