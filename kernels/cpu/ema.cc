// EMA lerp on the CPU (contract in lucid/kernels/ema.h): a bandwidth-bound stream, split over
// OpenMP threads for large parameter sets.
#include "lucid/kernels/ema.h"

#include <cstdint>

namespace lucid::kernels {

void ema_lerp_cpu(float* target, const float* source, std::size_t n, float tau) {
  const std::int64_t len = static_cast<std::int64_t>(n);
#pragma omp parallel for simd schedule(static) if (len >= (1 << 15))
  for (std::int64_t i = 0; i < len; ++i) target[i] += tau * (source[i] - target[i]);
}

}  // namespace lucid::kernels
