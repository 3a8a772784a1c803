// The CUDA hook registry of the CLI (see cuda_hooks.h).
#include "cli/cuda_hooks.h"

namespace lucid::cli {
namespace {
const CudaHooks* g_hooks = nullptr;
}  // namespace

const CudaHooks* cuda_hooks() { return g_hooks; }
void set_cuda_hooks(const CudaHooks* hooks) { g_hooks = hooks; }

}  // namespace lucid::cli
