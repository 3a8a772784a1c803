// CPU softmax / log-softmax / two-hot / fused soft cross-entropy (lucid/kernels/softmax.h).
#include "lucid/kernels/softmax.h"

#include <cmath>

#include "hd/symlog.h"
#include "lucid/kernels/threading.h"

namespace lucid::kernels {
namespace {
// log(sum(exp(x))) of one row, shifted by the max for stability.
float row_lse(const float* x, std::int64_t cols) {
  float mx = x[0];
  for (std::int64_t c = 1; c < cols; ++c) mx = fmaxf(mx, x[c]);
  float s = 0.f;
  for (std::int64_t c = 0; c < cols; ++c) s += expf(x[c] - mx);
  return mx + logf(s);
}
}  // namespace

void softmax_forward_cpu(const float* x, float* y, std::int64_t rows, std::int64_t cols, bool log_softmax) {
#pragma omp parallel for if (rows * cols >= kParallelGrain) schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float lse = row_lse(xr, cols);
    if (log_softmax) {
      for (std::int64_t c = 0; c < cols; ++c) yr[c] = xr[c] - lse;
    } else {
      for (std::int64_t c = 0; c < cols; ++c) yr[c] = expf(xr[c] - lse);
    }
  }
}

void softmax_backward_cpu(const float* y, const float* gy, float* gx, std::int64_t rows, std::int64_t cols,
                          bool log_softmax) {
#pragma omp parallel for if (rows * cols >= kParallelGrain) schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = gy + r * cols;
    float* gxr = gx + r * cols;
    if (log_softmax) {  // gx = gy - softmax * sum(gy)
      float s = 0.f;
      for (std::int64_t c = 0; c < cols; ++c) s += gr[c];
      for (std::int64_t c = 0; c < cols; ++c) gxr[c] = gr[c] - expf(yr[c]) * s;
    } else {  // gx = y * (gy - sum(gy * y))
      float s = 0.f;
      for (std::int64_t c = 0; c < cols; ++c) s += gr[c] * yr[c];
      for (std::int64_t c = 0; c < cols; ++c) gxr[c] = yr[c] * (gr[c] - s);
    }
  }
}

void two_hot_cpu(const float* target, float* out, std::int64_t rows, int num_bins, float vmin, float vmax) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* o = out + r * num_bins;
    for (int k = 0; k < num_bins; ++k) o[k] = 0.f;
    const hd::TwoHotBin b = hd::two_hot_bin(target[r], num_bins, vmin, vmax);
    o[b.lo] += 1.f - b.w_hi;
    o[(b.lo + 1) % num_bins] += b.w_hi;
  }
}

void soft_ce_forward_cpu(const float* logits, const float* target, float* loss, float* lse, std::int64_t rows,
                         int num_bins, float vmin, float vmax) {
#pragma omp parallel for if (rows * num_bins >= kParallelGrain) schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * num_bins;
    const float l = row_lse(x, num_bins);
    const hd::TwoHotBin b = hd::two_hot_bin(target[r], num_bins, vmin, vmax);
    // -sum_k w_k (x_k - lse) with weights summing to one.
    loss[r] = l - ((1.f - b.w_hi) * x[b.lo] + b.w_hi * x[(b.lo + 1) % num_bins]);
    lse[r] = l;
  }
}

void soft_ce_backward_cpu(const float* logits, const float* target, const float* lse, const float* gloss,
                          float* g_logits, std::int64_t rows, int num_bins, float vmin, float vmax) {
#pragma omp parallel for if (rows * num_bins >= kParallelGrain) schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * num_bins;
    float* g = g_logits + r * num_bins;
    const float gr = gloss[r], l = lse[r];
    for (int k = 0; k < num_bins; ++k) g[k] = gr * expf(x[k] - l);
    const hd::TwoHotBin b = hd::two_hot_bin(target[r], num_bins, vmin, vmax);
    g[b.lo] -= gr * (1.f - b.w_hi);
    g[(b.lo + 1) % num_bins] -= gr * b.w_hi;
  }
}

}  // namespace lucid::kernels
