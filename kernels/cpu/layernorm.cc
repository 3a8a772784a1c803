// CPU LayerNorm (+ fused Mish) forward/backward (lucid/kernels/layernorm.h).
//
// Statistics are float sums over the vector lanes (a 4096-wide row is 256 terms per lane); the
// backward recomputes xhat from (x, mean, rstd) rather than storing it, so the fused op's forward
// writes only y, mean and rstd: one pass over memory each way. Each row is one call of a
// function cloned per instruction set (isa_clones.h); OpenMP splits the rows. On AVX2 CPUs
// without AVX-512 the rows go through layernorm_rows_avx2.cc instead (the forward four at a
// time), with the same result.
#include "lucid/kernels/layernorm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "hd/activations.h"
#include "isa_clones.h"
#include "layernorm_rows_avx2.h"
#include "lucid/error.h"
#include "lucid/kernels/cpu_features.h"
#include "lucid/kernels/threading.h"

namespace lucid::kernels {
namespace {

LUCID_CPU_CLONES
void forward_row(const float* xr, const float* gamma, const float* beta, float* yr, float* mean, float* rstd,
                 std::int64_t cols, float eps, bool fuse_mish) {
  // Float sums in the vector lanes (8 or 16 partial sums), as PyTorch's CPU LayerNorm accumulates
  // in float; two passes (mean, then squared deviations) keep the variance free of cancellation.
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (std::int64_t c = 0; c < cols; ++c) s += xr[c];
  const float m = s / static_cast<float>(cols);
  float v = 0.f;
#pragma omp simd reduction(+ : v)
  for (std::int64_t c = 0; c < cols; ++c) {
    const float d = xr[c] - m;
    v += d * d;
  }
  const float rs = 1.f / std::sqrt(v / static_cast<float>(cols) + eps);
  *mean = m;
  *rstd = rs;
  if (fuse_mish) {
#pragma omp simd
    for (std::int64_t c = 0; c < cols; ++c) yr[c] = hd::mish((xr[c] - m) * rs * gamma[c] + beta[c]);
  } else {
#pragma omp simd
    for (std::int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - m) * rs * gamma[c] + beta[c];
  }
}

// One row of the backward; dp is cols floats of scratch; pg/pb (may be null) accumulate
// dgamma/dbeta partials; with gxr, mr (may be null) multiplies it and pd (may be null) accumulates
// the partial column sums of the result.
LUCID_CPU_CLONES
void backward_row(const float* xr, const float* gamma, const float* beta, float m, float rs, const float* gr,
                  float* gxr, const float* mr, float* pg, float* pb, float* pd, float* dp, std::int64_t cols,
                  bool fuse_mish) {
  // dp = d loss / d (gamma * xhat + beta)
  if (fuse_mish) {
#pragma omp simd
    for (std::int64_t c = 0; c < cols; ++c)
      dp[c] = gr[c] * hd::mish_grad((xr[c] - m) * rs * gamma[c] + beta[c]);
  } else {
#pragma omp simd
    for (std::int64_t c = 0; c < cols; ++c) dp[c] = gr[c];
  }
  float sum_dxhat = 0.f, sum_dxhat_xhat = 0.f;
#pragma omp simd reduction(+ : sum_dxhat, sum_dxhat_xhat)
  for (std::int64_t c = 0; c < cols; ++c) {
    const float xhat = (xr[c] - m) * rs;
    const float dxhat = dp[c] * gamma[c];
    sum_dxhat += dxhat;
    sum_dxhat_xhat += dxhat * xhat;
  }
  if (pg) {
#pragma omp simd
    for (std::int64_t c = 0; c < cols; ++c) {
      pg[c] += dp[c] * (xr[c] - m) * rs;
      pb[c] += dp[c];
    }
  }
  if (gxr) {
    const float inv_n = 1.f / static_cast<float>(cols);
    const float a = sum_dxhat * inv_n, b = sum_dxhat_xhat * inv_n;
#pragma omp simd
    for (std::int64_t c = 0; c < cols; ++c) gxr[c] = rs * (dp[c] * gamma[c] - a - (xr[c] - m) * rs * b);
    // The epilogue while the row is in L1: the dropout before the LayerNorm, then the bias.
    if (mr) {
#pragma omp simd
      for (std::int64_t c = 0; c < cols; ++c) gxr[c] *= mr[c];
    }
    if (pd) {
#pragma omp simd
      for (std::int64_t c = 0; c < cols; ++c) pd[c] += gxr[c];
    }
  }
}

// The AVX2 rows (layernorm_rows_avx2.h), forward and backward, where they apply: an AVX2 CPU
// without AVX-512 (whose x86-64-v4 clone keeps 16 lanes), rows a whole number of vectors, clones
// not switched off.
bool avx2_rows_apply(std::int64_t cols) {
#if defined(LUCID_NO_CLONES)
  (void)cols;
  return false;
#else
  return cols % 8 == 0 && cpu_has_avx2_fma() && !cpu_has_avx512f();
#endif
}

constexpr std::int64_t kRowBlock = 4;  // the AVX2 rows' group: threads split whole groups

}  // namespace

void detail::layernorm_forward_rows_cloned(const float* x, const float* gamma, const float* beta, float* y,
                                           float* mean, float* rstd, std::int64_t rows, std::int64_t cols,
                                           float eps, bool fuse_mish) {
  for (std::int64_t r = 0; r < rows; ++r)
    forward_row(x + r * cols, gamma, beta, y + r * cols, mean + r, rstd + r, cols, eps, fuse_mish);
}

void detail::layernorm_backward_row_cloned(const float* x, const float* gamma, const float* beta, float mean,
                                           float rstd, const float* gy, float* gx, const float* mask,
                                           float* pg, float* pb, float* pd, float* dp, std::int64_t cols,
                                           bool fuse_mish) {
  backward_row(x, gamma, beta, mean, rstd, gy, gx, mask, pg, pb, pd, dp, cols, fuse_mish);
}

namespace {

// n rows from x through the AVX2 rows or, one at a time, the clones.
void forward_rows(bool avx2, const float* x, const float* gamma, const float* beta, float* y, float* mean,
                  float* rstd, std::int64_t n, std::int64_t cols, float eps, bool fuse_mish) {
  if (avx2)
    detail::layernorm_forward_rows_avx2(x, gamma, beta, y, mean, rstd, n, cols, eps, fuse_mish);
  else
    detail::layernorm_forward_rows_cloned(x, gamma, beta, y, mean, rstd, n, cols, eps, fuse_mish);
}

}  // namespace

void layernorm_forward_cpu(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                           float* rstd, std::int64_t rows, std::int64_t cols, float eps, bool fuse_mish) {
  const bool avx2 = avx2_rows_apply(cols);
  const std::int64_t group = avx2 ? kRowBlock : 1, blocks = (rows + group - 1) / group;
#pragma omp parallel for if (rows * cols >= kParallelGrain) schedule(static)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t r = b * group;
    forward_rows(avx2, x + r * cols, gamma, beta, y + r * cols, mean + r, rstd + r, std::min(group, rows - r),
                 cols, eps, fuse_mish);
  }
}

void layernorm_forward_masked_cpu(float* x, const float* x_mask, const float* gamma, const float* beta,
                                  float* y, float* mean, float* rstd, std::int64_t rows, std::int64_t cols,
                                  float eps, bool fuse_mish) {
  // Each group of rows is masked and then normalised while it is in L1.
  const bool avx2 = avx2_rows_apply(cols);
  const std::int64_t group = avx2 ? kRowBlock : 1, blocks = (rows + group - 1) / group;
#pragma omp parallel for if (rows * cols >= kParallelGrain) schedule(static)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t r = b * group, n = std::min(group, rows - r);
    float* xr = x + r * cols;
    const float* mr = x_mask + r * cols;
#pragma omp simd
    for (std::int64_t c = 0; c < n * cols; ++c) xr[c] *= mr[c];
    forward_rows(avx2, xr, gamma, beta, y + r * cols, mean + r, rstd + r, n, cols, eps, fuse_mish);
  }
}

void layernorm_backward_cpu(const float* x, const float* gamma, const float* beta, const float* mean,
                            const float* rstd, const float* gy, float* gx, float* dgamma, float* dbeta,
                            std::int64_t rows, std::int64_t cols, bool fuse_mish) {
  layernorm_backward_linear_cpu(x, gamma, beta, mean, rstd, gy, gx, nullptr, dgamma, dbeta, nullptr, rows,
                                cols, fuse_mish);
}

void layernorm_backward_linear_cpu(const float* x, const float* gamma, const float* beta, const float* mean,
                                   const float* rstd, const float* gy, float* gx, const float* gx_mask,
                                   float* dgamma, float* dbeta, float* dbias, std::int64_t rows,
                                   std::int64_t cols, bool fuse_mish) {
  LUCID_CHECK(gx || (!gx_mask && !dbias)) << "layernorm backward: a mask or bias gradient needs gx";
  const bool params = dgamma != nullptr;
  const int threads = rows * cols >= kParallelGrain ? free_threads() : 1;
  // Per thread: [dgamma partial | dbeta partial | dbias partial | dp scratch], reused across calls
  // on this thread.
  thread_local std::vector<float> scratch;
  scratch.assign(static_cast<std::size_t>(4 * cols * threads), 0.f);
  float* const base = scratch.data();  // thread_local: take the caller's buffer before forking
  const auto row = avx2_rows_apply(cols) ? detail::layernorm_backward_row_avx2 : backward_row;

#pragma omp parallel num_threads(threads)
  {
    float* mine = base + 4 * cols * omp_get_thread_num();
    float* pg = params ? mine : nullptr;
    float* pb = params ? mine + cols : nullptr;
    float* pd = dbias ? mine + 2 * cols : nullptr;
#pragma omp for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r)
      row(x + r * cols, gamma, beta, mean[r], rstd[r], gy + r * cols, gx ? gx + r * cols : nullptr,
          gx_mask ? gx_mask + r * cols : nullptr, pg, pb, pd, mine + 3 * cols, cols, fuse_mish);
  }
  for (int t = 0; t < threads; ++t) {  // fixed order: the result does not depend on scheduling
    const float* p = base + 4 * cols * t;
    if (params) {
      for (std::int64_t c = 0; c < cols; ++c) {
        dgamma[c] += p[c];
        dbeta[c] += p[cols + c];
      }
    }
    if (dbias) {
      for (std::int64_t c = 0; c < cols; ++c) dbias[c] += p[2 * cols + c];
    }
  }
}

}  // namespace lucid::kernels
