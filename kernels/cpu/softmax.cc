// CPU softmax / log-softmax / two-hot / fused soft cross-entropy (lucid/kernels/softmax.h).
//
// Rows are processed in blocks of about 4k floats per call of a function cloned for AVX-512,
// AVX2+FMA and the baseline (isa_clones.h), so SimNorm's 8-wide rows do not pay one dispatch
// each; OpenMP splits the blocks. Exponentials use hd::exp_poly (within 2 ulp of expf) so the row
// loops vectorize. Softmax is e / sum(e) with e = exp(x - max): one exponential per element and no
// log (exp(x - lse) costs a second exponential and its log rounds once more, so it is also further
// from the float64 result). Log-softmax keeps x - lse, with one libm log per row.
// SimNorm's 8-wide rows go two per 16-lane vector on AVX-512, one per 8-lane vector on AVX2
// (simnorm8_block below).
#include "lucid/kernels/softmax.h"

#include <algorithm>
#include <cmath>

#include "hd/activations.h"
#include "hd/symlog.h"
#include "isa_clones.h"
#include "lucid/kernels/cpu_features.h"
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

// Softmax of one row: y = e / sum(e), e = exp(x - max).
inline void softmax_row(const float* x, float* y, std::int64_t cols) {
  float mx = x[0];
#pragma omp simd reduction(max : mx)
  for (std::int64_t c = 1; c < cols; ++c) mx = std::max(mx, x[c]);
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (std::int64_t c = 0; c < cols; ++c) {
    y[c] = hd::exp_poly(x[c] - mx);
    s += y[c];
  }
#pragma omp simd
  for (std::int64_t c = 0; c < cols; ++c) y[c] /= s;
}

// 16 float lanes as a GCC/Clang vector: one zmm in the AVX-512 clone, two ymm in the AVX2 one.
// The helpers taking them are inlined into the cloned callers; kernels/CMakeLists.txt builds this
// file with -Wno-psabi for GCC's note about passing 64-byte vectors by value without AVX-512.
using Lanes16 = float __attribute__((vector_size(64)));
using Lanes16i = std::int32_t __attribute__((vector_size(64)));

[[gnu::always_inline]] inline Lanes16 lanes_max(Lanes16 a, Lanes16 b) { return a > b ? a : b; }
[[gnu::always_inline]] inline Lanes16 lanes_add(Lanes16 a, Lanes16 b) { return a + b; }

// hd::exp_poly on 16 lanes: the same steps (hd::exp_poly_steps), 2^n from the int lanes.
[[gnu::always_inline]] inline Lanes16 exp_poly_lanes(Lanes16 x) {
  return hd::exp_poly_steps(x, [](Lanes16 n) {
    return __builtin_bit_cast(Lanes16, (__builtin_convertvector(n, Lanes16i) + 127) << 23);
  });
}

// Each 8-lane half of v reduced (max or sum) and broadcast over its 8 lanes: three butterfly
// steps, swapping lanes 4 apart, then 2, then 1.
#define LUCID_REDUCE_HALVES(v, op)                                                                  \
  do {                                                                                              \
    v = op(v, __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11)); \
    v = op(v, __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13)); \
    v = op(v, __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14)); \
  } while (0)

[[gnu::always_inline]] inline Lanes16 max_halves(Lanes16 v) {
  LUCID_REDUCE_HALVES(v, lanes_max);
  return v;
}
[[gnu::always_inline]] inline Lanes16 sum_halves(Lanes16 v) {
  LUCID_REDUCE_HALVES(v, lanes_add);
  return v;
}
#undef LUCID_REDUCE_HALVES

// Softmax over rows of 8 (SimNorm's group), two rows per vector. Why: with 8-wide rows the generic
// loop is all reduction overhead (two scalar reductions per 8 exponentials); here a pair of rows is
// one exponential vector, two butterflies and one divide. Same formula as softmax_row.
// AVX-512 only: without it GCC splits the 16-lane selects (max, the exponential's clamps) into
// scalar compares and moves (measured 3x slower on an AMD EPYC); simnorm8_rows below is the AVX2 one.
__attribute__((target("arch=x86-64-v4"))) void simnorm8_pairs(const float* x, float* y, std::int64_t rows) {
  std::int64_t r = 0;
  for (; r + 2 <= rows; r += 2) {
    Lanes16 v;
    __builtin_memcpy(&v, x + r * 8, sizeof(v));
    const Lanes16 e = exp_poly_lanes(v - max_halves(v));
    const Lanes16 out = e / sum_halves(e);
    __builtin_memcpy(y + r * 8, &out, sizeof(out));
  }
  if (r < rows) softmax_row(x + r * 8, y + r * 8, 8);
}

// 8 float lanes: one ymm in the AVX2 clone. The same steps as the 16-lane helpers on one row, so
// each row's max, exponentials, butterfly sum (the same pairing order) and divide, and so its
// result, are those of simnorm8_pairs bit for bit.
using Lanes8 = float __attribute__((vector_size(32)));
using Lanes8i = std::int32_t __attribute__((vector_size(32)));

[[gnu::always_inline]] inline Lanes8 exp_poly_lanes8(Lanes8 x) {
  return hd::exp_poly_steps(x, [](Lanes8 n) {
    return __builtin_bit_cast(Lanes8, (__builtin_convertvector(n, Lanes8i) + 127) << 23);
  });
}

#define LUCID_REDUCE_ROW8(v, op)                                      \
  do {                                                                \
    v = op(v, __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3)); \
    v = op(v, __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5)); \
    v = op(v, __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6)); \
  } while (0)

[[gnu::always_inline]] inline Lanes8 row8_max(Lanes8 v) {
  LUCID_REDUCE_ROW8(v, [](Lanes8 a, Lanes8 b) { return a > b ? a : b; });
  return v;
}
[[gnu::always_inline]] inline Lanes8 row8_sum(Lanes8 v) {
  LUCID_REDUCE_ROW8(v, [](Lanes8 a, Lanes8 b) { return a + b; });
  return v;
}
#undef LUCID_REDUCE_ROW8

// One row of 8 per vector: the AVX2 (and baseline) path of SimNorm's softmax.
LUCID_CPU_CLONES_AVX2
void simnorm8_rows(const float* x, float* y, std::int64_t rows) {
  for (std::int64_t r = 0; r < rows; ++r) {
    Lanes8 v;
    __builtin_memcpy(&v, x + r * 8, sizeof(v));
    const Lanes8 e = exp_poly_lanes8(v - row8_max(v));
    const Lanes8 out = e / row8_sum(e);
    __builtin_memcpy(y + r * 8, &out, sizeof(out));
  }
}

void simnorm8_block(const float* x, float* y, std::int64_t rows) {
  if (cpu_has_avx512f())
    simnorm8_pairs(x, y, rows);
  else
    simnorm8_rows(x, y, rows);
}

LUCID_CPU_CLONES
void forward_block(const float* x, float* y, std::int64_t rows, std::int64_t cols, bool log_softmax) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    if (log_softmax) {
      const float lse = row_lse(xr, cols);
#pragma omp simd
      for (std::int64_t c = 0; c < cols; ++c) yr[c] = xr[c] - lse;
    } else {
      softmax_row(xr, yr, cols);
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
    if (cols == 8 && !log_softmax)
      simnorm8_block(x + r0 * cols, y + r0 * cols, n);
    else
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
