// How the `lucid` CLI reaches a CUDA backend without linking one itself.
//
// lucid_app (every subcommand) is one static library shared by the CPU-only `lucid` and the CUDA
// executables, so it must not name use_cuda_device() or the emulator's counters. A CUDA
// executable adds cli/backend_cuda.cc, whose static registrar fills these hooks; a binary without
// it has none, and `device=cuda` is refused with a line saying which binary to use.
#pragma once

#include <cstdint>

namespace lucid::cli {

struct CudaHooks {
  const char* backend = "";        // "native" or "emulated"
  void (*use_device)() = nullptr;  // lucid::use_cuda_device()
  // So far on lucid's compute stream: kernels launched from the host, graph launches, and kernels
  // replayed inside those graphs; false when the backend cannot count them (a native GPU: use
  // nsys, docs/profiling.md).
  bool (*launch_counts)(std::uint64_t* kernels, std::uint64_t* graphs,
                        std::uint64_t* graph_kernels) = nullptr;
};

// The registered hooks, or nullptr when this binary links no CUDA backend.
const CudaHooks* cuda_hooks();
void set_cuda_hooks(const CudaHooks* hooks);

}  // namespace lucid::cli
