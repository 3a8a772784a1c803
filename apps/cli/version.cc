// version_string(): what `lucid --version` prints — version, build type and backends built.
#include "cli/commands.h"

namespace lucid::cli {

std::string version_string() {
  std::string backends = "CPU";
#ifdef LUCID_WITH_CUDA
  backends += ", CUDA";
#endif
#ifdef LUCID_WITH_CUDA_EMU
  backends += ", CUDA-emu";
#endif
  return std::string("lucid ") + LUCID_VERSION + " (" + LUCID_BUILD_TYPE + ") backends: " + backends;
}

}  // namespace lucid::cli
