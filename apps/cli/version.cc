// version_string(): what `lucid --version` prints — version, build type, and the backends, agents
// and planners this build has (tools/main_job.sh reads the last two).
#include "cli/commands.h"
#include "cli/cuda_hooks.h"
#include "cli/run_setup.h"
#include "lucid/planners/planner.h"

namespace lucid::cli {

std::string version_string() {
  // CPU always; CUDA when this binary links a backend (cli/cuda_hooks.h), for what runs there.
  // The CUDA kernels the build compiled are listed apart: an emulator build's `lucid` has them
  // built but is CPU-only (its `lucid_emu` is the emulated-device CLI).
  std::string backends = "CPU";
  if (const CudaHooks* hooks = cuda_hooks())
    backends += std::string(", CUDA (") + hooks->backend + "; device=cuda: plan-bench planner=mppi)";
  std::string kernels;
#ifdef LUCID_WITH_CUDA
  kernels += "CUDA";
#endif
#ifdef LUCID_WITH_CUDA_EMU
  kernels += std::string(kernels.empty() ? "" : ", ") + "CUDA-emu";
#endif
  if (!kernels.empty()) backends += " (CUDA kernels built: " + kernels + ")";
  auto join = [](const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  return std::string("lucid ") + LUCID_VERSION + " (" + LUCID_BUILD_TYPE + ")\n  backends: " + backends +
         "\n  agents: " + join(agent_names()) + "\n  planners: " + join(planners::planner_names());
}

}  // namespace lucid::cli
