// Adam step, sum of squares and scaling on the CPU (contract in lucid/kernels/adam.h).
//
// These are bandwidth-bound streams over the arena (Adam touches 4 arrays per element), so they
// are plain vectorizable loops split over OpenMP threads once the arena is large enough that
// the fork/join (a few µs) is paid back.
#include "lucid/kernels/adam.h"

#include <cmath>
#include <cstdint>

namespace lucid::kernels {
namespace {
constexpr std::int64_t kParallelMin = 1 << 15;
}

void adam_step_cpu(float* params, const float* grads, float* exp_avg, float* exp_avg_sq, std::size_t n,
                   float lr, float beta1, float beta2, float eps, float bias_c1, float bias_c2) {
  const float step_size = lr / bias_c1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(bias_c2);
  const float one_m_b1 = 1.0f - beta1, one_m_b2 = 1.0f - beta2;
  const std::int64_t len = static_cast<std::int64_t>(n);
#pragma omp parallel for simd schedule(static) if (len >= kParallelMin)
  for (std::int64_t i = 0; i < len; ++i) {
    const float g = grads[i];
    const float m = beta1 * exp_avg[i] + one_m_b1 * g;
    const float v = beta2 * exp_avg_sq[i] + one_m_b2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    params[i] -= step_size * m / (std::sqrt(v) * inv_sqrt_bc2 + eps);
  }
}

double sumsq_cpu(const float* x, std::size_t n) {
  const std::int64_t len = static_cast<std::int64_t>(n);
  double total = 0.0;
#pragma omp parallel for simd reduction(+ : total) schedule(static) if (len >= kParallelMin)
  for (std::int64_t i = 0; i < len; ++i) total += static_cast<double>(x[i]) * x[i];
  return total;
}

void scale_cpu(float* x, std::size_t n, float s) {
  const std::int64_t len = static_cast<std::int64_t>(n);
#pragma omp parallel for simd schedule(static) if (len >= kParallelMin)
  for (std::int64_t i = 0; i < len; ++i) x[i] *= s;
}

}  // namespace lucid::kernels
