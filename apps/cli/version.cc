// version_string(): what `lucid --version` prints — version, build type, and the backends, agents
// and planners this build has (tools/main_job.sh reads the last two).
#include "cli/commands.h"
#include "cli/run_setup.h"
#include "lucid/planners/planner.h"

namespace lucid::cli {

std::string version_string() {
  // The engine runs on the CPU; the CUDA kernels are built (natively with nvcc, and for the
  // emulator that tests them) but the engine's ops do not dispatch to them yet (issue 4), so
  // they are listed apart rather than as a backend `device=cuda` could use.
  std::string backends = "CPU";
  std::string kernels;
#ifdef LUCID_WITH_CUDA
  kernels += "CUDA";
#endif
#ifdef LUCID_WITH_CUDA_EMU
  kernels += std::string(kernels.empty() ? "" : ", ") + "CUDA-emu";
#endif
  if (!kernels.empty()) backends += " (CUDA kernels built: " + kernels + "; engine dispatch not yet wired)";
  auto join = [](const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  return std::string("lucid ") + LUCID_VERSION + " (" + LUCID_BUILD_TYPE + ")\n  backends: " + backends +
         "\n  agents: " + join(agent_names()) + "\n  planners: " + join(planners::planner_names());
}

}  // namespace lucid::cli
