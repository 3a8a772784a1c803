// Compiled only into the CUDA executables (`lucid` on a LUCID_CUDA build, `lucid_emu` on an
// emulator build; apps/CMakeLists.txt keeps it out of lucid_app): registers the CLI's CUDA hooks
// (cli/cuda_hooks.h) for the backend the executable links. Under the emulator the launch counts
// are its per-stream counters on lucid's compute stream, graph replays counted apart.
#include "cli/cuda_hooks.h"
#include "lucid/engine/cuda_device.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid::cli {
namespace {

bool launch_counts(std::uint64_t* kernels, std::uint64_t* graphs, std::uint64_t* graph_kernels) {
#if defined(LUCID_EMU)
  const emu::Counters c = emu::counters(cuda_compute_stream());
  *kernels = c.kernel_launches;
  *graphs = c.graph_launches;
  *graph_kernels = c.graph_kernel_launches;
  return true;
#else
  *kernels = *graphs = *graph_kernels = 0;
  return false;
#endif
}

[[maybe_unused]] const bool kRegistered = [] {
  static const CudaHooks hooks {
#if defined(LUCID_EMU)
    "emulated",
#else
    "native",
#endif
        &use_cuda_device, &launch_counts
  };
  set_cuda_hooks(&hooks);
  return true;
}();

}  // namespace
}  // namespace lucid::cli
