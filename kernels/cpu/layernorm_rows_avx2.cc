// The AVX2 + FMA LayerNorm(+Mish) rows, forward and backward (layernorm_rows_avx2.h says why).
#include "layernorm_rows_avx2.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <cmath>

#define LUCID_AVX2_FMA __attribute__((target("avx2,fma")))

namespace lucid::kernels::detail {
namespace {

// 0 + l0 + l1 + ... + l7 in that order: how the clone's `omp simd` reduction ends.
LUCID_AVX2_FMA inline float sum_lanes_in_order(__m256 v) {
  alignas(32) float lane[8];
  _mm256_store_ps(lane, v);
  float s = 0.f;
  for (const float l : lane) s += l;
  return s;
}

// Mean and 1/std of G rows at once: G independent accumulators hide the add (pass 1) and FMA
// (pass 2) latency that one row's single chain waits on.
template <int G>
LUCID_AVX2_FMA inline void row_statistics(const float* x, std::int64_t cols, float eps, float* mean,
                                          float* rstd) {
  __m256 acc[G];
  for (int g = 0; g < G; ++g) acc[g] = _mm256_setzero_ps();
  for (std::int64_t c = 0; c < cols; c += 8)
    for (int g = 0; g < G; ++g) acc[g] = _mm256_add_ps(acc[g], _mm256_loadu_ps(x + g * cols + c));
  __m256 m[G];
  for (int g = 0; g < G; ++g) {
    mean[g] = sum_lanes_in_order(acc[g]) / static_cast<float>(cols);
    m[g] = _mm256_set1_ps(mean[g]);
    acc[g] = _mm256_setzero_ps();
  }
  for (std::int64_t c = 0; c < cols; c += 8)
    for (int g = 0; g < G; ++g) {
      const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + g * cols + c), m[g]);
      acc[g] = _mm256_fmadd_ps(d, d, acc[g]);
    }
  for (int g = 0; g < G; ++g)
    rstd[g] = 1.f / std::sqrt(sum_lanes_in_order(acc[g]) / static_cast<float>(cols) + eps);
}

// hd::exp_poly_steps in 8 lanes for an argument already clamped to [-87.3, 20] (its upper clamp,
// 88.4, cannot bind there), with the same FMA contractions as the clone. The constants are
// written out again here; Avx2RowsEqualTheClonedRows fails if they ever drift from hd's.
// The clamps of mish and mish_grad are vmin/vmax with the operand order that keeps a NaN (the
// compare is false, the second operand comes back), as hd's `x > 20 ? 20 : x` does.
LUCID_AVX2_FMA inline __m256 exp_poly8(__m256 xc) {
  const __m256 round = _mm256_set1_ps(12582912.f);  // 1.5 * 2^23
  const __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504088896341f), round), round);
  const __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f),
                                   _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc));
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.f));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

// mish(t) = t n / (n + 2), n = e (e + 2), e = exp_poly(min(t, 20)): hd::mish's steps in 8 lanes.
LUCID_AVX2_FMA inline __m256 mish8(__m256 t) {
  const __m256 e =
      exp_poly8(_mm256_max_ps(_mm256_set1_ps(-87.33654f), _mm256_min_ps(_mm256_set1_ps(20.f), t)));
  const __m256 two = _mm256_set1_ps(2.f);
  const __m256 nn = _mm256_mul_ps(_mm256_add_ps(e, two), e);
  return _mm256_div_ps(_mm256_mul_ps(t, nn), _mm256_add_ps(nn, two));
}

// d mish / dt: hd::mish_grad's steps in 8 lanes. xc = min(t, 20) is what multiplies the sigmoid;
// only the exponential's argument is also clamped below.
LUCID_AVX2_FMA inline __m256 mish_grad8(__m256 t) {
  const __m256 xc = _mm256_min_ps(_mm256_set1_ps(20.f), t);
  const __m256 e = exp_poly8(_mm256_max_ps(_mm256_set1_ps(-87.33654f), xc));
  const __m256 one = _mm256_set1_ps(1.f), two = _mm256_set1_ps(2.f);
  const __m256 n = _mm256_mul_ps(_mm256_add_ps(e, two), e);
  const __m256 n_plus_2 = _mm256_add_ps(n, two), one_plus_e = _mm256_add_ps(e, one);
  const __m256 d = _mm256_div_ps(one, _mm256_mul_ps(one_plus_e, n_plus_2));
  const __m256 inv = _mm256_mul_ps(one_plus_e, d);
  const __m256 tanh_sp = _mm256_mul_ps(n, inv);
  const __m256 sig = _mm256_mul_ps(_mm256_mul_ps(e, n_plus_2), d);
  const __m256 xs2 = _mm256_mul_ps(_mm256_mul_ps(xc, sig), two);
  return _mm256_fmadd_ps(_mm256_mul_ps(xs2, _mm256_add_ps(tanh_sp, one)), inv, tanh_sp);
}

// y = act(((x - mean) rstd) gamma + beta) for one row, the product and the add as one FMA.
template <bool kMish>
LUCID_AVX2_FMA inline void normalise_row(const float* x, const float* gamma, const float* beta, float* y,
                                         float mean, float rstd, std::int64_t cols) {
  const __m256 m = _mm256_set1_ps(mean), rs = _mm256_set1_ps(rstd);
  for (std::int64_t c = 0; c < cols; c += 8) {
    const __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), m), rs);
    __m256 t = _mm256_fmadd_ps(xhat, _mm256_loadu_ps(gamma + c), _mm256_loadu_ps(beta + c));
    if constexpr (kMish) t = mish8(t);
    _mm256_storeu_ps(y + c, t);
  }
}

template <int G>
LUCID_AVX2_FMA void row_group(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                              float* rstd, std::int64_t cols, float eps, bool fuse_mish) {
  row_statistics<G>(x, cols, eps, mean, rstd);
  for (int g = 0; g < G; ++g) {
    if (fuse_mish)
      normalise_row<true>(x + g * cols, gamma, beta, y + g * cols, mean[g], rstd[g], cols);
    else
      normalise_row<false>(x + g * cols, gamma, beta, y + g * cols, mean[g], rstd[g], cols);
  }
}

}  // namespace

LUCID_AVX2_FMA void layernorm_backward_row_avx2(const float* x, const float* gamma, const float* beta,
                                                float m, float rs, const float* gy, float* gx,
                                                const float* mask, float* pg, float* pb, float* pd, float* dp,
                                                std::int64_t cols, bool fuse_mish) {
  const __m256 mv = _mm256_set1_ps(m), rsv = _mm256_set1_ps(rs);
  // Pass 1: dp = gy act'(t), kept for pass 2, and the two row sums, in one pass rather than the
  // clone's two (the sums' per-lane order is the same).
  __m256 sum_dxhat = _mm256_setzero_ps(), sum_dxhat_xhat = _mm256_setzero_ps();
  for (std::int64_t c = 0; c < cols; c += 8) {
    const __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), mv), rsv);
    const __m256 g = _mm256_loadu_ps(gamma + c);
    __m256 d = _mm256_loadu_ps(gy + c);
    if (fuse_mish) d = _mm256_mul_ps(d, mish_grad8(_mm256_fmadd_ps(xhat, g, _mm256_loadu_ps(beta + c))));
    _mm256_storeu_ps(dp + c, d);
    const __m256 dxhat = _mm256_mul_ps(d, g);
    sum_dxhat = _mm256_add_ps(sum_dxhat, dxhat);
    sum_dxhat_xhat = _mm256_fmadd_ps(xhat, dxhat, sum_dxhat_xhat);
  }
  const float inv_n = 1.f / static_cast<float>(cols);
  const __m256 a = _mm256_set1_ps(sum_lanes_in_order(sum_dxhat) * inv_n);
  const __m256 b = _mm256_set1_ps(sum_lanes_in_order(sum_dxhat_xhat) * inv_n);
  // Pass 2: the parameter partials, then gx = rs (dp gamma - a - xhat b), masked, and its column
  // sums, each from registers.
  for (std::int64_t c = 0; c < cols; c += 8) {
    const __m256 centred = _mm256_sub_ps(_mm256_loadu_ps(x + c), mv);
    const __m256 d = _mm256_loadu_ps(dp + c);
    if (pg) {
      _mm256_storeu_ps(pg + c, _mm256_fmadd_ps(_mm256_mul_ps(centred, d), rsv, _mm256_loadu_ps(pg + c)));
      _mm256_storeu_ps(pb + c, _mm256_add_ps(_mm256_loadu_ps(pb + c), d));
    }
    if (!gx) continue;
    const __m256 inner =
        _mm256_fnmadd_ps(_mm256_mul_ps(centred, rsv), b, _mm256_fmsub_ps(d, _mm256_loadu_ps(gamma + c), a));
    __m256 g = _mm256_mul_ps(rsv, inner);
    if (mask) g = _mm256_mul_ps(g, _mm256_loadu_ps(mask + c));
    _mm256_storeu_ps(gx + c, g);
    if (pd) _mm256_storeu_ps(pd + c, _mm256_add_ps(_mm256_loadu_ps(pd + c), g));
  }
}

void layernorm_forward_rows_avx2(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                                 float* rstd, std::int64_t rows, std::int64_t cols, float eps,
                                 bool fuse_mish) {
  constexpr int kGroup = 4;  // four chains cover the FMA latency (4 cycles) at one FMA per cycle
  std::int64_t r = 0;
  for (; r + kGroup <= rows; r += kGroup)
    row_group<kGroup>(x + r * cols, gamma, beta, y + r * cols, mean + r, rstd + r, cols, eps, fuse_mish);
  const auto rest = rows - r;
  const float* xr = x + r * cols;
  float* yr = y + r * cols;
  if (rest == 3) row_group<3>(xr, gamma, beta, yr, mean + r, rstd + r, cols, eps, fuse_mish);
  if (rest == 2) row_group<2>(xr, gamma, beta, yr, mean + r, rstd + r, cols, eps, fuse_mish);
  if (rest == 1) row_group<1>(xr, gamma, beta, yr, mean + r, rstd + r, cols, eps, fuse_mish);
}

}  // namespace lucid::kernels::detail

#else  // not x86-64 GCC/Clang: layernorm.cc never calls this (cpu_has_avx2_fma() is false)

#include "lucid/error.h"

namespace lucid::kernels::detail {

void layernorm_forward_rows_avx2(const float*, const float*, const float*, float*, float*, float*,
                                 std::int64_t, std::int64_t, float, bool) {
  LUCID_CHECK(false) << "layernorm_forward_rows_avx2: not an x86-64 build";
}

void layernorm_backward_row_avx2(const float*, const float*, const float*, float, float, const float*, float*,
                                 const float*, float*, float*, float*, float*, std::int64_t, bool) {
  LUCID_CHECK(false) << "layernorm_backward_row_avx2: not an x86-64 build";
}

}  // namespace lucid::kernels::detail

#endif
