// CPU reductions (lucid/kernels/reduce.h).
#include "lucid/kernels/reduce.h"

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

void reduce_leading_sum_cpu(const float* x, float* out, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t c = 0; c < cols; ++c) out[c] = 0.f;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
#pragma omp simd
    for (std::int64_t c = 0; c < cols; ++c) out[c] += xr[c];
  }
}

}  // namespace lucid::kernels
