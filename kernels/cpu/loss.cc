// CPU fused losses (lucid/kernels/loss.h).
#include "lucid/kernels/loss.h"

#include "lucid/kernels/threading.h"

namespace lucid::kernels {

float mse_forward_cpu(const float* a, const float* b, std::int64_t n) {
  double s = 0.0;
#pragma omp parallel for simd reduction(+ : s) if (n >= kParallelGrain) schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    const float d = a[i] - b[i];
    s += static_cast<double>(d * d);
  }
  return n > 0 ? static_cast<float>(s / static_cast<double>(n)) : 0.f;
}

void mse_backward_cpu(const float* a, const float* b, float g, float* ga, float* gb, std::int64_t n) {
  const float scale = 2.f * g / static_cast<float>(n);
#pragma omp parallel for simd if (n >= kParallelGrain) schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    const float d = scale * (a[i] - b[i]);
    if (ga) ga[i] = d;
    if (gb) gb[i] = -d;
  }
}

}  // namespace lucid::kernels
