// Consistency loss step and latent-gradient add (lucid/agents/consistency_loss.h).
#include "lucid/agents/consistency_loss.h"

#include <cstddef>
#include <cstdint>

#include "lucid/kernels/threading.h"

namespace lucid::agents {

double consistency_step(const float* z, const float* target, int rows, int L, float scale, float* dz,
                        double* row_partials) {
#pragma omp parallel for schedule(static) if (std::int64_t{rows} * L >= kernels::kParallelGrain)
  for (int r = 0; r < rows; ++r) {
    const std::size_t o = static_cast<std::size_t>(r) * L;
    double se = 0.0;
    for (int j = 0; j < L; ++j) {
      const float d = z[o + j] - target[o + j];
      se += static_cast<double>(d) * d;
      dz[o + j] += scale * d;
    }
    row_partials[r] = se;
  }
  double total = 0.0;
  for (int r = 0; r < rows; ++r) total += row_partials[r];
  return total;
}

void add_latent_grad(const float* dx, int L, int width, int rows, float* dz) {
#pragma omp parallel for schedule(static) if (std::int64_t{rows} * L >= kernels::kParallelGrain)
  for (int r = 0; r < rows; ++r) {
    const float* src = dx + static_cast<std::size_t>(r) * width;
    float* dst = dz + static_cast<std::size_t>(r) * L;
#pragma omp simd
    for (int j = 0; j < L; ++j) dst[j] += src[j];
  }
}

}  // namespace lucid::agents
