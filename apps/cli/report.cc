// `lucid report`: tables, metrics and figures for a run or suite folder; the work is in apps/report/.
#include <iostream>

#include "cli/commands.h"

namespace lucid::cli {

int cmd_report(const ReportArgs& args) {
  std::cerr << "lucid report: the report writer is not in this build yet (issue 8)\n";
  return kExitNotBuilt;
}

}  // namespace lucid::cli
