// Launch-shape helpers shared by the launchers in kernels/cuda/.
//
// Every launcher picks its own block size for the shape at hand; tests override that choice
// with ScopedBlockThreads to sweep launch shapes against the same CPU reference (a kernel that
// is only right for one block size has a bug that another GPU generation's tuning will find).
// The override is one thread_local int read per launch: free next to a launch.
#pragma once

#include "lucid/error.h"

namespace lucid::cuda {

namespace detail {
inline thread_local int t_block_threads_override = 0;
}

// `preferred` unless a test overrides it; always a multiple of 32 in [32, 1024].
inline int block_threads(int preferred) {
  const int o = detail::t_block_threads_override;
  return o > 0 ? o : preferred;
}

class ScopedBlockThreads {
 public:
  explicit ScopedBlockThreads(int threads) : saved_(detail::t_block_threads_override) {
    LUCID_CHECK(threads >= 32 && threads <= 1024 && threads % 32 == 0)
        << "block size override must be a multiple of 32 in [32, 1024], got " << threads;
    detail::t_block_threads_override = threads;
  }
  ~ScopedBlockThreads() { detail::t_block_threads_override = saved_; }
  ScopedBlockThreads(const ScopedBlockThreads&) = delete;
  ScopedBlockThreads& operator=(const ScopedBlockThreads&) = delete;

 private:
  int saved_;
};

}  // namespace lucid::cuda
