// Fused TD-MPC2 rollout value and input-only gradient (see tdmpc2/action_gradient.h).
//
// Forward: per step t one [z_t | a_t] buffer feeds both the dynamics and the reward MLP, whose
// activations are kept per step; the terminal policy and value heads run on [z_H | pi(z_H)]; the
// uncertainty pass stacks all H + 1 (latent, action) pairs into one batch per Q head. Backward
// walks the same caches in reverse and forms only input gradients: dJ/dz flows from the terminal
// value (through Q and through pi(z_H)) back along the dynamics, picking up each step's reward
// gradient, and the action columns of every [z_t | a_t] gradient are dJ/da_t.
#include "lucid/models/tdmpc2/action_gradient.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>

#include "lucid/error.h"
#include "lucid/kernels/gemm_small.h"
#include "lucid/kernels/layernorm.h"
#include "lucid/kernels/softmax.h"
#include "lucid/kernels/threading.h"

namespace lucid::models::tdmpc2 {
namespace {

constexpr float kLayerNormEps = 1e-5f;  // as mlp.cc (torch.nn.LayerNorm default)

std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

// dx (rows x in) = dh (rows x out) W, reading W from the forward's packed panels: panel j holds
// W[16 j .. 16 j + 15][p] for p < in, contiguous (kernels/gemm_small.h, trans_b = true). Reusing
// them halves the packed working set (one form per weight instead of two), which is what decides
// whether the weights stay in the last-level cache between calls. Each dx element is a dot
// product over the output dimension; two p rows of a panel are read together (128 contiguous
// bytes) and NR dh rows share each panel load.
constexpr int kPrefetchPairs = 8;  // 2 KiB ahead per panel (measured against 0 and 16)

template <int NR>
__attribute__((target("avx2,fma"))) void dh_w_panels_avx2(int p_begin, int p_end, int in, int out,
                                                          const float* dh, int ld_dh, const float* panels,
                                                          float* dx, int ldx) {
  constexpr int kW = kernels::kGemmPanelWidth;
  const int full = out / kW, rem = out % kW;
  for (int p = p_begin; p < p_end; p += 2) {
    const int np = std::min(2, p_end - p);
    __m256 acc[NR][2];
    for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int j = 0; j < full; ++j) {
      const float* w = panels + (static_cast<std::size_t>(j) * in + p) * kW;
      // 32 panels advance in lockstep, more streams than the hardware prefetcher follows: ask
      // for this panel's lines kPrefetchPairs row pairs ahead (the weights come from memory).
      _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchPairs * 2 * kW), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchPairs * 2 * kW + kW), _MM_HINT_T0);
      const __m256 a0 = _mm256_loadu_ps(w), a1 = _mm256_loadu_ps(w + 8);
      const __m256 b0 = np > 1 ? _mm256_loadu_ps(w + 16) : _mm256_setzero_ps();
      const __m256 b1 = np > 1 ? _mm256_loadu_ps(w + 24) : _mm256_setzero_ps();
      for (int r = 0; r < NR; ++r) {
        const float* d = dh + static_cast<std::size_t>(r) * ld_dh + j * kW;
        const __m256 d0 = _mm256_loadu_ps(d), d1 = _mm256_loadu_ps(d + 8);
        acc[r][0] = _mm256_fmadd_ps(a1, d1, _mm256_fmadd_ps(a0, d0, acc[r][0]));
        acc[r][1] = _mm256_fmadd_ps(b1, d1, _mm256_fmadd_ps(b0, d0, acc[r][1]));
      }
    }
    const float* w = panels + (static_cast<std::size_t>(full) * in + p) * kW;
    for (int r = 0; r < NR; ++r)
      for (int q = 0; q < np; ++q) {
        const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc[r][q]), _mm256_extractf128_ps(acc[r][q], 1));
        const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        float v = _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
        const float* d = dh + static_cast<std::size_t>(r) * ld_dh + full * kW;
        for (int c = 0; c < rem; ++c) v += w[q * kW + c] * d[c];
        dx[static_cast<std::size_t>(r) * ldx + p + q] = v;
      }
  }
}

// The AVX-512 form: a panel row is one 16-lane register, and four p rows (four 64-byte lines of
// each panel) share every dh load, so a step is NP + NR loads for NP x NR fused multiply-adds
// (the AVX2 form: 2 + 2 NR loads of half width for 2 NR).
// Sum of the 16 lanes, through memory and two 8-lane halves: the AVX-512 shuffles and extracts
// (_mm512_reduce_add_ps included) trip GCC 12's -Wuninitialized inside its own header. It runs
// once per output element, after the streaming loop.
__attribute__((target("avx512f"))) inline float sum16(__m512 v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  const __m256 h = _mm256_add_ps(_mm256_load_ps(t), _mm256_load_ps(t + 8));
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

template <int NR, int NP>
__attribute__((target("avx512f"))) void dh_w_panels_avx512_step(int p, int in, int out, const float* dh,
                                                                int ld_dh, const float* panels, float* dx,
                                                                int ldx) {
  constexpr int kW = kernels::kGemmPanelWidth;
  static_assert(kW == 16, "one panel row per 16-lane register");
  const int full = out / kW, rem = out % kW;
  __m512 acc[NR][NP];
  for (int r = 0; r < NR; ++r)
    for (int q = 0; q < NP; ++q) acc[r][q] = _mm512_setzero_ps();
  for (int j = 0; j < full; ++j) {
    const float* w = panels + (static_cast<std::size_t>(j) * in + p) * kW;
    for (int q = 0; q < NP; ++q)
      _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchPairs * 2 * kW + q * kW), _MM_HINT_T0);
    __m512 a[NP];
    for (int q = 0; q < NP; ++q) a[q] = _mm512_loadu_ps(w + q * kW);
    for (int r = 0; r < NR; ++r) {
      const __m512 d = _mm512_loadu_ps(dh + static_cast<std::size_t>(r) * ld_dh + j * kW);
      for (int q = 0; q < NP; ++q) acc[r][q] = _mm512_fmadd_ps(a[q], d, acc[r][q]);
    }
  }
  const float* w = panels + (static_cast<std::size_t>(full) * in + p) * kW;
  for (int r = 0; r < NR; ++r)
    for (int q = 0; q < NP; ++q) {
      float v = sum16(acc[r][q]);
      const float* d = dh + static_cast<std::size_t>(r) * ld_dh + full * kW;
      for (int c = 0; c < rem; ++c) v += w[q * kW + c] * d[c];
      dx[static_cast<std::size_t>(r) * ldx + p + q] = v;
    }
}

template <int NR>
void dh_w_panels_avx512(int p_begin, int p_end, int in, int out, const float* dh, int ld_dh,
                        const float* panels, float* dx, int ldx) {
  int p = p_begin;
  for (; p + 4 <= p_end; p += 4) dh_w_panels_avx512_step<NR, 4>(p, in, out, dh, ld_dh, panels, dx, ldx);
  switch (p_end - p) {
    case 3:
      dh_w_panels_avx512_step<NR, 3>(p, in, out, dh, ld_dh, panels, dx, ldx);
      break;
    case 2:
      dh_w_panels_avx512_step<NR, 2>(p, in, out, dh, ld_dh, panels, dx, ldx);
      break;
    case 1:
      dh_w_panels_avx512_step<NR, 1>(p, in, out, dh, ld_dh, panels, dx, ldx);
      break;
    default:
      break;
  }
}

// The same product in plain loops, for CPUs without AVX2/FMA.
void dh_w_panels_generic(int rows, int in, int out, const float* dh, const float* panels, float* dx) {
  constexpr int kW = kernels::kGemmPanelWidth;
  for (int r = 0; r < rows; ++r)
    for (int p = 0; p < in; ++p) {
      float v = 0.f;
      for (int j0 = 0; j0 < out; j0 += kW) {
        const float* w = panels + (static_cast<std::size_t>(j0 / kW) * in + p) * kW;
        for (int c = 0; c < std::min(kW, out - j0); ++c)
          v += w[c] * dh[static_cast<std::size_t>(r) * out + j0 + c];
      }
      dx[static_cast<std::size_t>(r) * in + p] = v;
    }
}

// Rows of dh go NR at a time over one range of dx's columns [p_begin, p_end).
template <template <int> class Kernel>
void dh_w_rows(int rows, int p_begin, int p_end, int in, int out, const float* dh, const float* panels,
               float* dx) {
  // Every pass streams all of W, so the rows go in as few passes as the registers allow: 5 rows
  // (Dream-MPC's candidates) in one pass, not 4 + 1.
  if (rows == 5) {
    Kernel<5>::run(p_begin, p_end, in, out, dh, out, panels, dx, in);
    return;
  }
  int r = 0;
  for (; r + 4 <= rows; r += 4)
    Kernel<4>::run(p_begin, p_end, in, out, dh + sz(r) * out, out, panels, dx + sz(r) * in, in);
  const float* d = dh + sz(r) * out;
  float* x = dx + sz(r) * in;
  if (rows - r == 3) Kernel<3>::run(p_begin, p_end, in, out, d, out, panels, x, in);
  if (rows - r == 2) Kernel<2>::run(p_begin, p_end, in, out, d, out, panels, x, in);
  if (rows - r == 1) Kernel<1>::run(p_begin, p_end, in, out, d, out, panels, x, in);
}

template <int NR>
struct Avx2Kernel {
  static void run(int p0, int p1, int in, int out, const float* dh, int ld, const float* w, float* dx,
                  int ldx) {
    dh_w_panels_avx2<NR>(p0, p1, in, out, dh, ld, w, dx, ldx);
  }
};
template <int NR>
struct Avx512Kernel {
  static void run(int p0, int p1, int in, int out, const float* dh, int ld, const float* w, float* dx,
                  int ldx) {
    dh_w_panels_avx512<NR>(p0, p1, in, out, dh, ld, w, dx, ldx);
  }
};

void dh_w_panels(int rows, int in, int out, const float* dh, const float* panels, float* dx) {
  const kernels::GemmIsa isa = kernels::gemm_small_isa_in_use();
  if (isa == kernels::GemmIsa::generic) {
    dh_w_panels_generic(rows, in, out, dh, panels, dx);
    return;
  }
  // dx's columns split into one block per thread (multiples of 4: whole AVX-512 steps). Why: at
  // Dream-MPC's 5 rows this product is memory-bound and was one thread's work while the other
  // waited at the next barrier; each thread now streams its own slice of every panel.
  const int threads = kernels::num_threads();
  const bool parallel =
      threads > 1 && std::int64_t{rows} * in * out >= kernels::kGemmParallelMacs && in >= 8 * threads;
  const int blocks = parallel ? threads : 1;
  const int per = ((in + blocks - 1) / blocks + 3) / 4 * 4;
#pragma omp parallel for schedule(static) num_threads(blocks) if (parallel)
  for (int b = 0; b < blocks; ++b) {
    const int p0 = std::min(in, b * per), p1 = std::min(in, p0 + per);
    if (p0 >= p1) continue;
    if (isa == kernels::GemmIsa::avx512)
      dh_w_rows<Avx512Kernel>(rows, p0, p1, in, out, dh, panels, dx);
    else
      dh_w_rows<Avx2Kernel>(rows, p0, p1, in, out, dh, panels, dx);
  }
}

}  // namespace

Tdmpc2ActionGradient::Tdmpc2ActionGradient(const Tdmpc2Model& model) : model_(model) {}

void Tdmpc2ActionGradient::reserve_net(const Mlp& mlp, int rows, NetCache& cache) {
  const std::size_t n = mlp.layers().size();
  cache.h.resize(n);
  cache.mean.resize(n);
  cache.rstd.resize(n);
  cache.y.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const LayerSpec& s = mlp.layers()[i];
    cache.h[i].resize(s.norm ? sz(rows) * s.out : 0);
    cache.mean[i].resize(s.norm ? sz(rows) : 0);
    cache.rstd[i].resize(s.norm ? sz(rows) : 0);
    cache.y[i].resize(sz(rows) * s.out);
    if (s.act == Activation::kSimNorm && simnorm_u_.size() < sz(rows) * s.out)
      simnorm_u_.resize(sz(rows) * s.out);
  }
}

void Tdmpc2ActionGradient::reserve(int rows, int horizon) {
  LUCID_CHECK(rows >= 1 && horizon >= 1) << "action gradient: rows and horizon must be >= 1";
  // Pack every weight now: the random terminal head pair otherwise meets a new head's panels
  // (an allocation) several calls after the first. Forward and backward share the one form.
  const Tdmpc2Layout& layout = model_.layout();
  std::vector<const Mlp*> nets = {&layout.dynamics, &layout.reward, &layout.pi};
  for (const Mlp& q : layout.q) nets.push_back(&q);
  for (const Mlp* m : nets)
    for (const LayerSpec& s : m->layers()) {
      const float* w = model_.block(*m) + s.w;
      kernels::gemm_pack_cached(true, s.out, s.in, w, s.in, model_.weights_version());
    }
  if (rows <= max_rows_ && horizon <= max_horizon_) return;
  rows = std::max(rows, max_rows_);
  horizon = std::max(horizon, max_horizon_);
  const Tdmpc2Config& c = model_.config();
  const Tdmpc2Layout& lay = model_.layout();
  const int L = c.latent_dim, A = c.action_dim, ZA = L + c.task_dim + A;
  za_.resize(sz(horizon) + 1);
  for (auto& b : za_) b.resize(sz(rows) * ZA);
  dyn_.resize(sz(horizon));
  rew_.resize(sz(horizon));
  for (int t = 0; t < horizon; ++t) {
    reserve_net(lay.dynamics, rows, dyn_[t]);
    reserve_net(lay.reward, rows, rew_[t]);
  }
  reserve_net(lay.pi, rows, pi_);
  pi_in_.resize(c.multitask() ? sz(rows) * (L + c.task_dim) : 0);
  q_.resize(sz(c.num_q));
  for (int h = 0; h < c.num_q; ++h) reserve_net(lay.q[h], rows, q_[h]);
  const int n_unc = (horizon + 1) * rows;
  unc_.resize(sz(c.num_q));
  for (int h = 0; h < c.num_q; ++h) reserve_net(lay.q[h], n_unc, unc_[h]);
  unc_in_.resize(sz(n_unc) * ZA);
  unc_vals_.resize(sz(n_unc) * c.num_q);
  decode_.resize(sz(n_unc));
  dlogits_.resize(sz(rows) * std::max(c.num_bins, 2 * A));
  g_scale_.resize(sz(rows));
  disc_.resize(sz(horizon));
  dza_a_.resize(sz(rows) * ZA);
  dza_b_.resize(sz(rows) * ZA);
  dz_.resize(sz(rows) * L);
  da_term_.resize(sz(rows) * A);
  eps_std_.resize(sz(rows) * A);
  int width = 0;
  for (const Mlp* m : {&lay.dynamics, &lay.reward, &lay.pi, &lay.q.front()})
    width = std::max(width, m->max_width());
  ping_.resize(sz(rows) * width);
  pong_.resize(sz(rows) * width);
  max_rows_ = rows;
  max_horizon_ = horizon;
}

void Tdmpc2ActionGradient::forward(const Mlp& mlp, const float* params, const float* x, int rows,
                                   NetCache& cache) {
  const std::uint64_t version = model_.weights_version();
  cache.x = x;
  cache.rows = rows;
  for (std::size_t li = 0; li < mlp.layers().size(); ++li) {
    const LayerSpec& s = mlp.layers()[li];
    float* y = cache.y[li].data();
    float* h = s.norm ? cache.h[li].data() : y;
    kernels::gemm_small_cpu(true, rows, s.out, s.in, 1.f, x, s.in, params + s.w, s.in, version, 0.f, h, s.out,
                            params + s.b);
    flops_ += 2ull * sz(rows) * sz(s.out) * sz(s.in);
    if (s.norm) {
      const float* gamma = params + s.gamma;
      const float* beta = params + s.beta;
      float* mean = cache.mean[li].data();
      float* rstd = cache.rstd[li].data();
      if (s.act == Activation::kSimNorm) {
        float* u = simnorm_u_.data();  // LayerNorm output; the backward reads only the softmax's y
        kernels::layernorm_forward_cpu(h, gamma, beta, u, mean, rstd, rows, s.out, kLayerNormEps, false);
        const int g = mlp.simnorm_dim();
        kernels::softmax_forward_cpu(u, y, std::int64_t{rows} * (s.out / g), g, false);
      } else {
        kernels::layernorm_forward_cpu(h, gamma, beta, y, mean, rstd, rows, s.out, kLayerNormEps,
                                       s.act == Activation::kMish);
      }
    }
    x = y;
  }
}

void Tdmpc2ActionGradient::backward_input(const Mlp& mlp, const float* params, const NetCache& cache,
                                          int row0, int rows, const float* dy, float* dx) {
  const std::uint64_t version = model_.weights_version();
  float* const ping = ping_.data();
  float* const pong = pong_.data();
  auto other = [&](const float* p) { return p == ping ? pong : ping; };  // either, for the caller's dy
  const float* d_out = dy;  // gradient w.r.t. the current layer's output
  for (int li = static_cast<int>(mlp.layers().size()) - 1; li >= 0; --li) {
    const LayerSpec& s = mlp.layers()[li];
    const float* dh = d_out;  // gradient w.r.t. the linear output; d_out itself for a plain layer
    if (s.norm) {
      const std::size_t oc = sz(row0) * s.out;  // the saved rows start here
      const float* g_ln = d_out;                // gradient w.r.t. the LayerNorm(+Mish) output
      float* dhw = other(d_out);
      if (s.act == Activation::kSimNorm) {
        const int g = mlp.simnorm_dim();
        float* du = other(d_out);
        kernels::softmax_backward_cpu(cache.y[li].data() + oc, d_out, du, std::int64_t{rows} * (s.out / g), g,
                                      false);
        g_ln = du;
        dhw = d_out == ping ? ping : (d_out == pong ? pong : other(du));  // d_out is dead: reuse it if ours
      }
      kernels::layernorm_backward_cpu(cache.h[li].data() + oc, params + s.gamma, params + s.beta,
                                      cache.mean[li].data() + row0, cache.rstd[li].data() + row0, g_ln, dhw,
                                      nullptr, nullptr, rows, s.out, s.act == Activation::kMish);
      dh = dhw;
    }
    float* d_in = li == 0 ? dx : other(dh);
    const std::shared_ptr<const kernels::PackedB> packed =
        kernels::gemm_pack_cached(true, s.out, s.in, params + s.w, s.in, version);
    dh_w_panels(rows, s.in, s.out, dh, packed->data.get(), d_in);
    flops_ += 2ull * sz(rows) * sz(s.out) * sz(s.in);
    d_out = d_in;
  }
}

void Tdmpc2ActionGradient::policy_actions(const float* out, const float* eps, int rows, float* a, int lda,
                                          float* eps_std) const {
  const Tdmpc2Config& c = model_.config();
  const int A = c.action_dim;
  const float dif = c.log_std_max - c.log_std_min;
  const int valid = c.task_action_dim(model_.task());  // padded dims: mean, log_std, eps all masked to 0
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < A; ++j) {
      if (j >= valid) {
        if (eps_std) eps_std[sz(r) * A + j] = 0.f;
        a[sz(r) * lda + j] = 0.f;
        continue;
      }
      float x = out[sz(r) * 2 * A + j];
      float es = 0.f;
      if (eps) {
        const float log_std = c.log_std_min + 0.5f * dif * (std::tanh(out[sz(r) * 2 * A + A + j]) + 1.f);
        es = eps[sz(r) * A + j] * std::exp(log_std);
        x += es;
      }
      if (eps_std) eps_std[sz(r) * A + j] = es;
      a[sz(r) * lda + j] = std::tanh(x);
    }
}

void Tdmpc2ActionGradient::policy_rollout(const float* z0, const float* eps, int rows, int horizon,
                                          float* actions) {
  const Tdmpc2Config& c = model_.config();
  const Tdmpc2Layout& lay = model_.layout();
  const int L = c.latent_dim, A = c.action_dim;
  const bool mt = c.multitask();
  LUCID_CHECK(rows >= 1 && rows <= max_rows_ && horizon >= 1 && horizon <= max_horizon_)
      << "policy rollout: " << rows << " rows x horizon " << horizon << " exceeds reserve(" << max_rows_
      << ", " << max_horizon_ << ")";
  const float* z = z0;
  for (int t = 0; t < horizon; ++t) {
    float* a = actions + sz(t) * rows * A;
    if (mt) model_.input_rows(z, L, nullptr, nullptr, rows, pi_in_.data());
    forward(lay.pi, model_.block(lay.pi), mt ? pi_in_.data() : z, rows, pi_);
    policy_actions(pi_.y.back().data(), eps ? eps + sz(t) * rows * A : nullptr, rows, a, A, nullptr);
    if (t + 1 == horizon) break;
    model_.input_rows(z, L, a, nullptr, rows, za_[t].data());
    forward(lay.dynamics, model_.block(lay.dynamics), za_[t].data(), rows, dyn_[t]);
    z = dyn_[t].y.back().data();
  }
}

void Tdmpc2ActionGradient::evaluate(const float* z0, const float* actions, int rows,
                                    const RolloutObjective& obj, float* value, float* grad) {
  const Tdmpc2Config& c = model_.config();
  const Tdmpc2Layout& lay = model_.layout();
  // Multitask rows read [z | e | mask * a]: the embedding columns (TD, constant) get no gradient
  // anyone reads, and padded action dims get none because the model reads them masked.
  const int H = obj.horizon, L = c.latent_dim, A = c.action_dim, TD = c.task_dim, ZA = L + TD + A;
  const bool mt = c.multitask();
  const float* mask = model_.action_mask(model_.task());
  LUCID_CHECK(rows >= 1 && rows <= max_rows_ && H >= 1 && H <= max_horizon_)
      << "action gradient: " << rows << " rows x horizon " << H << " exceeds reserve(" << max_rows_ << ", "
      << max_horizon_ << ")";
  LUCID_CHECK(obj.head_weights == nullptr)
      << "action gradient: head_weights is for device implementations; the CPU takes `heads`";
  int all_heads[64];
  std::span<const int> heads = obj.heads;
  if (heads.empty()) {
    LUCID_CHECK(c.num_q <= 64) << "action gradient: at most 64 Q heads";
    std::iota(all_heads, all_heads + c.num_q, 0);
    heads = std::span<const int>(all_heads, c.num_q);
  }
  for (int h : heads) LUCID_CHECK(h >= 0 && h < c.num_q) << "Q head " << h << " out of range";

  // ---- forward rollout: J = sum gamma^t r_t (+ terminal, - uncertainty below) ----
  std::fill(value, value + rows, 0.f);
  const float* z = z0;
  float disc = 1.f;
  for (int t = 0; t < H; ++t) {
    float* za = za_[t].data();
    model_.input_rows(z, L, actions + sz(t) * rows * A, nullptr, rows, za);
    forward(lay.dynamics, model_.block(lay.dynamics), za, rows, dyn_[t]);
    forward(lay.reward, model_.block(lay.reward), za, rows, rew_[t]);
    two_hot_inv_rows(rew_[t].y.back().data(), rows, c, decode_.data());
    for (int r = 0; r < rows; ++r) value[r] += disc * decode_[r];
    disc_[t] = disc;
    disc *= obj.discount;
    z = dyn_[t].y.back().data();
  }
  const float disc_h = disc;
  const float* z_h = z;
  float* za_h = za_[H].data();
  const float dif = c.log_std_max - c.log_std_min;
  const bool need_pi = obj.terminal_value || obj.uncertainty_coef != 0.f;
  if (need_pi) {
    const float* pi_in = z_h;  // [z_H | e] multitask
    if (mt) {
      model_.input_rows(z_h, L, nullptr, nullptr, rows, pi_in_.data());
      pi_in = pi_in_.data();
    }
    forward(lay.pi, model_.block(lay.pi), pi_in, rows, pi_);
    for (int r = 0; r < rows; ++r)
      std::memcpy(za_h + sz(r) * ZA, pi_in + sz(r) * (L + TD), sizeof(float) * (L + TD));
    policy_actions(pi_.y.back().data(), obj.terminal_eps, rows, za_h + L + TD, ZA, eps_std_.data());
  }
  // With the penalty on, every head is evaluated at [z_H | pi(z_H)] inside the uncertainty batch
  // (rows H * rows onwards), so the terminal heads read their values and saved activations there.
  const bool shared_terminal = obj.uncertainty_coef != 0.f;
  const int n = (H + 1) * rows;
  if (shared_terminal) {
    // u = mean * std over all heads of Q(z_{t+1}, a_t), t < H, and Q(z_H, pi(z_H)): one batch.
    for (int t = 0; t < H; ++t)
      model_.input_rows(dyn_[t].y.back().data(), L, actions + sz(t) * rows * A, nullptr, rows,
                        unc_in_.data() + sz(t) * rows * ZA);
    std::memcpy(unc_in_.data() + sz(H) * rows * ZA, za_h, sizeof(float) * rows * ZA);
    const int K = c.num_q;
    for (int k = 0; k < K; ++k) {
      forward(lay.q[k], model_.block(lay.q[k]), unc_in_.data(), n, unc_[k]);
      two_hot_inv_rows(unc_[k].y.back().data(), n, c, unc_vals_.data() + sz(k) * n);
    }
    for (int i = 0; i < n; ++i) {
      float mean = 0.f;
      for (int k = 0; k < K; ++k) mean += unc_vals_[sz(k) * n + i];
      mean /= static_cast<float>(K);
      float var = 0.f;
      for (int k = 0; k < K; ++k)
        var += (unc_vals_[sz(k) * n + i] - mean) * (unc_vals_[sz(k) * n + i] - mean);
      const float sd = K > 1 ? std::sqrt(var / static_cast<float>(K - 1)) : 0.f;
      value[i % rows] -= obj.uncertainty_coef * mean * sd;
    }
  }
  if (obj.terminal_value) {
    const float w = disc_h / static_cast<float>(heads.size());
    for (std::size_t i = 0; i < heads.size(); ++i) {
      const float* v = unc_vals_.data() + sz(heads[i]) * n + sz(H) * rows;
      if (!shared_terminal) {
        const Mlp& q = lay.q[heads[i]];
        forward(q, model_.block(q), za_h, rows, q_[i]);
        two_hot_inv_rows(q_[i].y.back().data(), rows, c, decode_.data());
        v = decode_.data();
      }
      for (int r = 0; r < rows; ++r) value[r] += w * v[r];
    }
  }
  if (grad == nullptr) return;

  // ---- input-only backward ----
  std::fill(dz_.begin(), dz_.begin() + sz(rows) * L, 0.f);
  if (obj.terminal_value) {
    std::fill(da_term_.begin(), da_term_.begin() + sz(rows) * A, 0.f);
    std::fill(g_scale_.begin(), g_scale_.begin() + rows, disc_h / static_cast<float>(heads.size()));
    for (std::size_t i = 0; i < heads.size(); ++i) {
      const Mlp& q = lay.q[heads[i]];
      const NetCache& qc = shared_terminal ? unc_[heads[i]] : q_[i];
      const int row0 = shared_terminal ? H * rows : 0;
      two_hot_inv_backward_rows(qc.y.back().data() + sz(row0) * c.num_bins, g_scale_.data(), rows, c,
                                dlogits_.data());
      backward_input(q, model_.block(q), qc, row0, rows, dlogits_.data(), dza_a_.data());
      for (int r = 0; r < rows; ++r) {
        const float* d = dza_a_.data() + sz(r) * ZA;
        for (int j = 0; j < L; ++j) dz_[sz(r) * L + j] += d[j];
        for (int j = 0; j < A; ++j) da_term_[sz(r) * A + j] += d[L + TD + j];
      }
    }
    // Through a = tanh(mu + eps exp(log_std(raw))) into the policy's output, then into z_H.
    const float* out = pi_.y.back().data();
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < A; ++j) {
        const float a = za_h[sz(r) * ZA + L + TD + j];
        // A padded dim's action is the constant tanh(0): nothing flows into the policy there.
        const float du = mask[j] == 0.f ? 0.f : da_term_[sz(r) * A + j] * (1.f - a * a);
        const float th = std::tanh(out[sz(r) * 2 * A + A + j]);
        dlogits_[sz(r) * 2 * A + j] = du;
        dlogits_[sz(r) * 2 * A + A + j] = du * eps_std_[sz(r) * A + j] * 0.5f * dif * (1.f - th * th);
      }
    backward_input(lay.pi, model_.block(lay.pi), pi_, 0, rows, dlogits_.data(), dza_b_.data());
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < L; ++j) dz_[sz(r) * L + j] += dza_b_[sz(r) * (L + TD) + j];
  }
  for (int t = H - 1; t >= 0; --t) {
    const float g = disc_[t];
    // dz_ holds dJ/dz_{t+1}.
    backward_input(lay.dynamics, model_.block(lay.dynamics), dyn_[t], 0, rows, dz_.data(), dza_a_.data());
    std::fill(g_scale_.begin(), g_scale_.begin() + rows, g);
    two_hot_inv_backward_rows(rew_[t].y.back().data(), g_scale_.data(), rows, c, dlogits_.data());
    backward_input(lay.reward, model_.block(lay.reward), rew_[t], 0, rows, dlogits_.data(), dza_b_.data());
    float* ga = grad + sz(t) * rows * A;
    for (int r = 0; r < rows; ++r) {
      const float* da = dza_a_.data() + sz(r) * ZA;
      const float* db = dza_b_.data() + sz(r) * ZA;
      for (int j = 0; j < A; ++j)
        ga[sz(r) * A + j] = mt ? mask[j] * (da[L + TD + j] + db[L + TD + j]) : da[L + j] + db[L + j];
      if (t > 0)
        for (int j = 0; j < L; ++j) dz_[sz(r) * L + j] = da[j] + db[j];
    }
  }
}

}  // namespace lucid::models::tdmpc2
