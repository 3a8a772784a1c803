// `lucid report`: tables, aggregate metrics and figures for a run or suite folder; the work is in
// apps/report/.
#include "report/report.h"

#include "cli/commands.h"

namespace lucid::cli {

int cmd_report(const ReportArgs& args) {
  report::ReportOptions o;
  o.out_dir = args.out;
  return report::run_report(args.folder, o);
}

}  // namespace lucid::cli
