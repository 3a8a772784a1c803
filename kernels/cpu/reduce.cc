// CPU reductions (lucid/kernels/reduce.h).
#include "lucid/kernels/reduce.h"

#include <algorithm>

#include "lucid/kernels/threading.h"

namespace lucid::kernels {

void reduce_last_cpu(ReduceOp op, const float* x, float* out, std::int64_t* arg, std::int64_t rows,
                     std::int64_t cols) {
#pragma omp parallel for if (rows * cols >= kParallelGrain) schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    if (op == ReduceOp::kSum) {
      float s = 0.f;
      for (std::int64_t c = 0; c < cols; ++c) s += xr[c];
      out[r] = s;
      continue;
    }
    std::int64_t best = 0;
    for (std::int64_t c = 1; c < cols; ++c)
      if (op == ReduceOp::kMax ? xr[c] > xr[best] : xr[c] < xr[best]) best = c;
    out[r] = xr[best];
    if (arg) arg[r] = best;
  }
}

// Bias gradients of a whole batch: threads take disjoint 64-column strips, so no partial sums
// need combining and the result does not depend on the thread count.
void reduce_leading_sum_cpu(const float* x, float* out, std::int64_t rows, std::int64_t cols) {
  constexpr std::int64_t kStrip = 64;
  const std::int64_t strips = (cols + kStrip - 1) / kStrip;
#pragma omp parallel for if (rows * cols >= kParallelGrain && strips > 1) schedule(static)
  for (std::int64_t s = 0; s < strips; ++s) {
    const std::int64_t c0 = s * kStrip, c1 = std::min(cols, c0 + kStrip);
    float* o = out + c0;
    for (std::int64_t c = 0; c < c1 - c0; ++c) o[c] = 0.f;
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * cols + c0;
#pragma omp simd
      for (std::int64_t c = 0; c < c1 - c0; ++c) o[c] += xr[c];
    }
  }
}

}  // namespace lucid::kernels
