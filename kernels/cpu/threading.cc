// The thread policy of lucid/kernels/threading.h: OpenMP owns the cores, OpenBLAS runs on one.
#include "lucid/kernels/threading.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>

#include "lucid/kernels/gemm.h"

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

int free_threads() { return omp_in_parallel() ? 1 : num_threads(); }

void parallel_jobs(int n, JobFn job) {
  init_threads();
  const int threads = std::min(free_threads(), n);
  if (threads <= 1) {
    for (int i = 0; i < n; ++i) job(i);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int i = 0; i < n; ++i) {
    try {
      job(i);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

std::pair<int, int> block_range(int n, int parts, int i, int align) {
  const int units = (n + align - 1) / align;
  return {std::min(n, units * i / parts * align), std::min(n, units * (i + 1) / parts * align)};
}

void gemm_rows_parallel_cpu(bool trans_a, bool trans_b, int m, int n, int k, const float* a, int lda,
                            const float* b, int ldb, float beta, float* c, int ldc) {
  init_threads();
  const double flops = 2.0 * m * n * k;
  const int threads = std::min(free_threads(), std::max(1, m / 16));
  if (threads <= 1 || flops < 4e6) {
    gemm_cpu(trans_a, trans_b, m, n, k, 1.f, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const int panels = (m + 15) / 16;  // whole 16-row panels keep each block kernel-aligned
    const int r0 = std::min(m, panels * t / threads * 16), r1 = std::min(m, panels * (t + 1) / threads * 16);
    if (r1 > r0) {
      // Row r of op(A) starts at a + r * lda, or at column r (a + r) when A is used transposed.
      const float* a0 = trans_a ? a + r0 : a + static_cast<std::int64_t>(r0) * lda;
      gemm_cpu(trans_a, trans_b, r1 - r0, n, k, 1.f, a0, lda, b, ldb, beta,
               c + static_cast<std::int64_t>(r0) * ldc, ldc);
    }
  }
}

}  // namespace lucid::kernels
