// The registries behind lucid/engine/cuda_launchers.h and profile.h: one pointer each, set by
// use_cuda_device(); and CudaGraphSlot, the capture-once-then-replay helper.
#include "lucid/engine/cuda_launchers.h"

#include <atomic>

#include "lucid/engine/profile.h"
#include "lucid/error.h"

namespace lucid {
namespace {
std::atomic<const CudaLaunchers*> g_table{nullptr};
std::atomic<const ProfileHooks*> g_profile{nullptr};
}  // namespace

const CudaLaunchers& cuda_launchers() {
  const CudaLaunchers* t = g_table.load(std::memory_order_acquire);
  LUCID_CHECK(t != nullptr) << "CUDA tensors need a CUDA backend: link lucid_engine_cuda (or "
                               "lucid_engine_cuda_emu) and call use_cuda_device() first";
  return *t;
}

void set_cuda_launchers(const CudaLaunchers* table) { g_table.store(table, std::memory_order_release); }

void CudaGraphSlot::run(bool enabled, const std::function<void()>& body) {
  if (!enabled || (!graph_ && !warmed_)) {
    body();
    warmed_ = true;
    return;
  }
  const CudaLaunchers& k = cuda_launchers();
  if (!graph_) {
    k.graph_capture_begin(k.stream);
    try {
      body();
    } catch (...) {
      k.graph_destroy(k.graph_capture_end(k.stream));
      throw;
    }
    graph_ = std::shared_ptr<void>(k.graph_capture_end(k.stream),
                                   [](void* g) { cuda_launchers().graph_destroy(g); });
  }
  k.graph_launch(graph_.get(), k.stream);
}

void set_profile_hooks(const ProfileHooks* hooks) { g_profile.store(hooks, std::memory_order_release); }
const ProfileHooks* profile_hooks() { return g_profile.load(std::memory_order_acquire); }

}  // namespace lucid
