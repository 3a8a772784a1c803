// Parallel copy and fill (lucid/kernels/copy.h).
#include "lucid/kernels/copy.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "lucid/kernels/threading.h"

namespace lucid::kernels {
namespace {

// Below this many floats (256 KiB) one thread copies as fast as the fork/join would let two.
constexpr std::int64_t kParallelFloats = 1 << 16;

int threads_for(std::int64_t n) { return n >= kParallelFloats ? free_threads() : 1; }

}  // namespace

void copy_cpu(const float* src, float* dst, std::int64_t n) {
  const int threads = threads_for(n);
  if (threads == 1) {
    if (n > 0) std::memcpy(dst, src, sizeof(float) * static_cast<std::size_t>(n));
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const std::int64_t b = n * t / threads, e = n * (t + 1) / threads;
    std::memcpy(dst + b, src + b, sizeof(float) * static_cast<std::size_t>(e - b));
  }
}

void fill_cpu(float* dst, std::int64_t n, float value) {
  const int threads = threads_for(n);
  if (threads == 1) {
    std::fill(dst, dst + std::max<std::int64_t>(n, 0), value);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    std::fill(dst + n * t / threads, dst + n * (t + 1) / threads, value);
  }
}

}  // namespace lucid::kernels
