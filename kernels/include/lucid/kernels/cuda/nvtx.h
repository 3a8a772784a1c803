// LUCID_NVTX_RANGE("part/name"): a scoped NVTX range, so nsys timelines show lucid's own names
// (docs/profiling.md lists them). Native CUDA builds (LUCID_WITH_CUDA without LUCID_EMU) push
// and pop an NVTX3 range (header-only, shipped with the toolkit); the emulator and CPU-only
// builds compile it to nothing.
//
// Names are "<layer>/<what>": kernels/<op>_forward, model/<part>, plan/iteration, update/<phase>.
#pragma once

#if defined(LUCID_WITH_CUDA) && !defined(LUCID_EMU)
#include <nvtx3/nvToolsExt.h>

#define LUCID_NVTX_ENABLED 1

namespace lucid::cuda {
class NvtxRange {
 public:
  explicit NvtxRange(const char* name) { nvtxRangePushA(name); }
  ~NvtxRange() { nvtxRangePop(); }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};
}  // namespace lucid::cuda

#define LUCID_NVTX_CONCAT_INNER(a, b) a##b
#define LUCID_NVTX_CONCAT(a, b) LUCID_NVTX_CONCAT_INNER(a, b)
#define LUCID_NVTX_RANGE(name) \
  const ::lucid::cuda::NvtxRange LUCID_NVTX_CONCAT(lucid_nvtx_range_, __LINE__)(name)
#else
#define LUCID_NVTX_RANGE(name) static_cast<void>(0)
#endif
