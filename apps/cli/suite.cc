// `lucid suite`: runs, lists or emits a benchmark suite; the runner lives in apps/suite/.
#include "suite/suite.h"

#include "cli/commands.h"

namespace lucid::cli {

int cmd_suite(const SuiteArgs& args) {
  suite::SuiteOptions o;
  o.config = args.config;
  o.overrides = args.overrides;
  o.dry_run = args.dry_run;
  o.emit = args.emit;
  // Runs are started with this very binary, so a suite never mixes builds.
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  o.lucid_exe = ec ? args.lucid_exe : self;
  return suite::run_suite(o);
}

}  // namespace lucid::cli
