// The measured sgemm roof (lucid/kernels/gemm_peak.h).
#include "lucid/kernels/gemm_peak.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

#include "lucid/error.h"

namespace lucid::kernels {

double sgemm_peak_gflops(int threads, int n, int calls) {
  LUCID_CHECK(threads >= 1 && n >= 1 && calls >= 1)
      << "sgemm_peak_gflops: threads, n and calls must be positive, got " << threads << ", " << n << ", "
      << calls;
  const std::size_t elems = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  // Values in [-1, 1) with no pattern the BLAS could shortcut (it cannot: sgemm does every FMA).
  std::vector<float> a(elems), b(elems), c(elems);
  for (std::size_t i = 0; i < elems; ++i) {
    a[i] = static_cast<float>((i * 2654435761u) % 2048) / 1024.f - 1.f;
    b[i] = static_cast<float>((i * 40503u + 7) % 2048) / 1024.f - 1.f;
  }
  openblas_set_num_threads(threads);
  double best = 0.0;
  for (int i = 0; i <= calls; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f,
                c.data(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (i > 0) best = std::max(best, 2.0 * n * n * static_cast<double>(n) / s * 1e-9);  // call 0 warms up
  }
  openblas_set_num_threads(1);  // lucid's policy: OpenMP owns the cores
  return best;
}

}  // namespace lucid::kernels
