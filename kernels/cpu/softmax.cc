// CPU softmax / log-softmax / two-hot / fused soft cross-entropy (lucid/kernels/softmax.h).
//
// Rows are processed in blocks of about 4k floats per call of a function cloned for AVX-512,
// AVX2+FMA and the baseline (isa_clones.h), so SimNorm's 8-wide rows do not pay one dispatch
// each; OpenMP splits the blocks. Exponentials use hd::exp_poly (within 2 ulp of expf) so the row
// loops vectorize; the one log per row stays libm.
#include "lucid/kernels/softmax.h"

#include <algorithm>
#include <cmath>

#include "hd/activations.h"
#include "hd/symlog.h"
#include "isa_clones.h"
#include "lucid/kernels/threading.h"

namespace lucid::kernels {
namespace {

// log(sum(exp(x))) of one row, shifted by the max for stability.
inline float row_lse(const float* x, std::int64_t cols) {
  float mx = x[0];
#pragma omp simd reduction(max : mx)
  for (std::int64_t c = 1; c < cols; ++c) mx = std::max(mx, x[c]);
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (std::int64_t c = 0; c < cols; ++c) s += hd::exp_poly(x[c] - mx);
  return mx + logf(s);
}

LUCID_CPU_CLONES
void forward_block(const float* x, float* y, std::int64_t rows, std::int64_t cols, bool log_softmax) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float lse = row_lse(xr, cols);
    if (log_softmax) {
#pragma omp simd
      for (std::int64_t c = 0; c < cols; ++c) yr[c] = xr[c] - lse;
    } else {
#pragma omp simd
      for (std::int64_t c = 0; c < cols; ++c) yr[c] = hd::exp_poly(xr[c] - lse);
    }
  }
}

LUCID_CPU_CLONES
void backward_block(const float* y, const float* gy, float* gx, std::int64_t rows, std::int64_t cols,
                    bool log_softmax) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = gy + r * cols;
    float* gxr = gx + r * cols;
    float s = 0.f;
    if (log_softmax) {  // gx = gy - softmax * sum(gy)
#pragma omp simd reduction(+ : s)
      for (std::int64_t c = 0; c < cols; ++c) s += gr[c];
#pragma omp simd
      for (std::int64_t c = 0; c < cols; ++c) gxr[c] = gr[c] - hd::exp_poly(yr[c]) * s;
    } else {  // gx = y * (gy - sum(gy * y))
#pragma omp simd reduction(+ : s)
      for (std::int64_t c = 0; c < cols; ++c) s += gr[c] * yr[c];
#pragma omp simd
      for (std::int64_t c = 0; c < cols; ++c) gxr[c] = yr[c] * (gr[c] - s);
    }
  }
}

LUCID_CPU_CLONES
void soft_ce_forward_block(const float* logits, const float* target, float* loss, float* lse,
                           std::int64_t rows, int num_bins, float vmin, float vmax) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * num_bins;
    const float l = row_lse(x, num_bins);
    const hd::TwoHotBin b = hd::two_hot_bin(target[r], num_bins, vmin, vmax);
    // -sum_k w_k (x_k - lse) with weights summing to one.
    loss[r] = l - ((1.f - b.w_hi) * x[b.lo] + b.w_hi * x[(b.lo + 1) % num_bins]);
    lse[r] = l;
  }
}

LUCID_CPU_CLONES
void soft_ce_backward_block(const float* logits, const float* target, const float* lse, const float* gloss,
                            float* g_logits, std::int64_t rows, int num_bins, float vmin, float vmax) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * num_bins;
    float* g = g_logits + r * num_bins;
    const float gr = gloss[r], l = lse[r];
#pragma omp simd
    for (int k = 0; k < num_bins; ++k) g[k] = gr * hd::exp_poly(x[k] - l);
    const hd::TwoHotBin b = hd::two_hot_bin(target[r], num_bins, vmin, vmax);
    g[b.lo] -= gr * (1.f - b.w_hi);
    g[(b.lo + 1) % num_bins] -= gr * b.w_hi;
  }
}

// Runs f(first_row, row_count) over blocks of ~4k floats, in parallel above kParallelGrain.
template <typename F>
void for_row_blocks(std::int64_t rows, std::int64_t cols, F f) {
  const std::int64_t per = std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(cols, 1));
  const std::int64_t blocks = (rows + per - 1) / per;
#pragma omp parallel for if (rows * cols >= kParallelGrain) schedule(static)
  for (std::int64_t b = 0; b < blocks; ++b) f(b * per, std::min(per, rows - b * per));
}

}  // namespace

void softmax_forward_cpu(const float* x, float* y, std::int64_t rows, std::int64_t cols, bool log_softmax) {
  for_row_blocks(rows, cols, [&](std::int64_t r0, std::int64_t n) {
    forward_block(x + r0 * cols, y + r0 * cols, n, cols, log_softmax);
  });
}

void softmax_backward_cpu(const float* y, const float* gy, float* gx, std::int64_t rows, std::int64_t cols,
                          bool log_softmax) {
  for_row_blocks(rows, cols, [&](std::int64_t r0, std::int64_t n) {
    backward_block(y + r0 * cols, gy + r0 * cols, gx + r0 * cols, n, cols, log_softmax);
  });
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
  for_row_blocks(rows, num_bins, [&](std::int64_t r0, std::int64_t n) {
    soft_ce_forward_block(logits + r0 * num_bins, target + r0, loss + r0, lse + r0, n, num_bins, vmin, vmax);
  });
}

void soft_ce_backward_cpu(const float* logits, const float* target, const float* lse, const float* gloss,
                          float* g_logits, std::int64_t rows, int num_bins, float vmin, float vmax) {
  for_row_blocks(rows, num_bins, [&](std::int64_t r0, std::int64_t n) {
    soft_ce_backward_block(logits + r0 * num_bins, target + r0, lse + r0, gloss + r0,
                           g_logits + r0 * num_bins, n, num_bins, vmin, vmax);
  });
}

}  // namespace lucid::kernels
