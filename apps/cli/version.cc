// version_string(): what `lucid --version` prints — version, build type, and the backends, agents
// and planners this build has (tools/main_job.sh reads the last two).
#include "cli/commands.h"
#include "cli/run_setup.h"
#include "lucid/planners/planner.h"

namespace lucid::cli {

std::string version_string() {
  std::string backends = "CPU";
#ifdef LUCID_WITH_CUDA
  backends += ", CUDA";
#endif
#ifdef LUCID_WITH_CUDA_EMU
  backends += ", CUDA-emu";
#endif
  auto join = [](const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  return std::string("lucid ") + LUCID_VERSION + " (" + LUCID_BUILD_TYPE + ")\n  backends: " + backends +
         "\n  agents: " + join(agent_names()) + "\n  planners: " + join(planners::planner_names());
}

}  // namespace lucid::cli
