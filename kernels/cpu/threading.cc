// The thread policy of lucid/kernels/threading.h: OpenMP owns the cores, OpenBLAS runs on one.
#include "lucid/kernels/threading.h"

#include <cblas.h>
#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace lucid::kernels {
namespace {
std::atomic<int> g_threads{0};
std::once_flag g_once;

int env_threads() {
  for (const char* name : {"LUCID_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* v = std::getenv(name)) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}
}  // namespace

void set_num_threads(int n) {
  if (n < 1) n = 1;
  g_threads = n;
  omp_set_num_threads(n);
  openblas_set_num_threads(1);
}

void init_threads() {
  std::call_once(g_once, [] {
    if (g_threads.load() == 0) set_num_threads(env_threads());
  });
}

int num_threads() {
  init_threads();
  return g_threads.load();
}

}  // namespace lucid::kernels
