// Fused TD-MPC2 rollout value and input-only gradient on the CUDA device (see
// tdmpc2/action_gradient_cuda.h; the CPU twin and the math are tdmpc2/action_gradient.cc's).
#include "lucid/models/tdmpc2/action_gradient_cuda.h"

#include <algorithm>

#include "lucid/engine/cuda_launchers.h"
#include "lucid/error.h"
#include "lucid/models/tdmpc2/model_cuda.h"

namespace lucid::models::tdmpc2 {
namespace {

constexpr float kLayerNormEps = 1e-5f;  // as mlp.cc (torch.nn.LayerNorm default)

Tensor dev(std::int64_t rows, std::int64_t cols) { return Tensor::zeros(Shape{rows, cols}, Device::kCuda); }

}  // namespace

Tdmpc2ActionGradientCuda::Tdmpc2ActionGradientCuda(const Tdmpc2Model& model) : model_(model) {
  LUCID_CHECK(!model.config().multitask())
      << "TD-MPC2 action gradient on CUDA: multitask models plan on the CPU (the device twin has no task "
         "embedding)";
  params_ = model_.cuda_twin().params();
}

const float* Tdmpc2ActionGradientCuda::block(const Mlp& m) const { return params_ + m.begin(); }

const float* Tdmpc2ActionGradientCuda::out_bias(const Mlp& m) const { return block(m) + m.layers().back().b; }

void Tdmpc2ActionGradientCuda::reserve_net(const Mlp& mlp, int rows, NetCache& cache) {
  const std::size_t n = mlp.layers().size();
  cache.h.assign(n, Tensor());
  cache.mean.assign(n, Tensor());
  cache.rstd.assign(n, Tensor());
  cache.y.assign(n, Tensor());
  for (std::size_t i = 0; i < n; ++i) {
    const LayerSpec& s = mlp.layers()[i];
    cache.y[i] = dev(rows, s.out);
    if (!s.norm) continue;
    cache.h[i] = dev(rows, s.out);
    cache.mean[i] = dev(rows, 1);
    cache.rstd[i] = dev(rows, 1);
    if (s.act == Activation::kSimNorm) cache.u = dev(rows, s.out);
  }
}

void Tdmpc2ActionGradientCuda::reserve(int rows, int horizon) {
  LUCID_CHECK(rows >= 1 && horizon >= 1) << "action gradient: rows and horizon must be >= 1";
  params_ = model_.cuda_twin().params();
  if (rows <= max_rows_ && horizon <= max_horizon_) return;
  rows = std::max(rows, max_rows_);
  horizon = std::max(horizon, max_horizon_);
  const Tdmpc2Config& c = model_.config();
  const Tdmpc2Layout& lay = model_.layout();
  const int L = c.latent_dim, A = c.action_dim, ZA = L + A, K = c.num_q;
  const int n_q = (horizon + 1) * rows;
  za_.assign(static_cast<std::size_t>(horizon) + 1, Tensor());
  for (Tensor& t : za_) t = dev(rows, ZA);
  dyn_.resize(static_cast<std::size_t>(horizon));
  rew_.resize(static_cast<std::size_t>(horizon));
  for (int t = 0; t < horizon; ++t) {
    reserve_net(lay.dynamics, rows, dyn_[t]);
    reserve_net(lay.reward, rows, rew_[t]);
  }
  reserve_net(lay.pi, rows, pi_);
  q_.resize(static_cast<std::size_t>(K));
  for (int k = 0; k < K; ++k) reserve_net(lay.q[k], n_q, q_[k]);
  q_in_ = dev(n_q, ZA);
  q_vals_ = dev(K, n_q);
  decode_ = dev(n_q, 1);
  term_action_ = dev(rows, A);
  head_w_ = dev(K, 1);
  dlogits_ = dev(rows, std::max(c.num_bins, 2 * A));
  dza_a_ = dev(rows, ZA);
  dza_b_ = dev(rows, ZA);
  dz_ = dev(rows, L);
  da_term_ = dev(rows, A);
  int width = 0;
  for (const Mlp* m : {&lay.dynamics, &lay.reward, &lay.pi, &lay.q.front()})
    width = std::max(width, m->max_width());
  ping_ = dev(rows, width);
  pong_ = dev(rows, width);
  d_ln_ = dev(rows, width);
  d_sm_ = dev(rows, width);
  disc_.assign(static_cast<std::size_t>(horizon), 0.f);
  max_rows_ = rows;
  max_horizon_ = horizon;
}

void Tdmpc2ActionGradientCuda::forward(const Mlp& mlp, const float* x, int rows, NetCache& cache) {
  const CudaLaunchers& k = cuda_launchers();
  const float* p = block(mlp);
  for (std::size_t li = 0; li < mlp.layers().size(); ++li) {
    const LayerSpec& s = mlp.layers()[li];
    float* y = cache.y[li].data();
    float* h = s.norm ? cache.h[li].data() : y;  // a plain output keeps its GEMM output (bias: epilogue)
    k.gemm(false, true, rows, s.out, s.in, 1.f, x, s.in, p + s.w, s.in, 0.f, h, s.out, k.stream);
    flops_ += 2ull * static_cast<std::uint64_t>(rows) * s.out * s.in;
    if (s.norm) {
      float* mean = cache.mean[li].data();
      float* rstd = cache.rstd[li].data();
      if (s.act == Activation::kSimNorm) {
        k.ensemble_layernorm_forward(h, p + s.b, p + s.gamma, p + s.beta, cache.u.data(), mean, rstd, 1, rows,
                                     s.out, kLayerNormEps, false, k.stream);
        const int g = mlp.simnorm_dim();
        k.softmax_forward(cache.u.data(), y, std::int64_t{rows} * (s.out / g), g, false, k.stream);
      } else {
        k.ensemble_layernorm_forward(h, p + s.b, p + s.gamma, p + s.beta, y, mean, rstd, 1, rows, s.out,
                                     kLayerNormEps, s.act == Activation::kMish, k.stream);
      }
    }
    x = y;
  }
}

void Tdmpc2ActionGradientCuda::backward_input(const Mlp& mlp, const NetCache& cache, int row0, int rows,
                                              const float* dy, float* dx) {
  const CudaLaunchers& k = cuda_launchers();
  const float* p = block(mlp);
  const float* d_out = dy;
  for (std::size_t li = mlp.layers().size(); li-- > 0;) {
    const LayerSpec& s = mlp.layers()[li];
    const std::int64_t oc = std::int64_t{row0} * s.out;
    const float* dh = d_out;
    if (s.norm) {
      const float* g_ln = d_out;
      if (s.act == Activation::kSimNorm) {
        const int g = mlp.simnorm_dim();
        k.softmax_backward(cache.y[li].data() + oc, d_out, d_sm_.data(), std::int64_t{rows} * (s.out / g), g,
                           false, k.stream);
        g_ln = d_sm_.data();
      }
      k.ensemble_layernorm_backward(cache.h[li].data() + oc, p + s.b, p + s.gamma, p + s.beta,
                                    cache.mean[li].data() + row0, cache.rstd[li].data() + row0, g_ln,
                                    d_ln_.data(), nullptr, nullptr, nullptr, 1, rows, s.out,
                                    s.act == Activation::kMish, k.stream);
      dh = d_ln_.data();
    }
    float* d_in = li == 0 ? dx : (d_out == ping_.data() ? pong_.data() : ping_.data());
    k.gemm(false, false, rows, s.in, s.out, 1.f, dh, s.out, p + s.w, s.in, 0.f, d_in, s.in, k.stream);
    flops_ += 2ull * static_cast<std::uint64_t>(rows) * s.out * s.in;
    d_out = d_in;
  }
}

void Tdmpc2ActionGradientCuda::policy_rollout(const float* z0, const float* eps, int rows, int horizon,
                                              float* actions) {
  const Tdmpc2Config& c = model_.config();
  const Tdmpc2Layout& lay = model_.layout();
  const int L = c.latent_dim, A = c.action_dim;
  LUCID_CHECK(rows >= 1 && rows <= max_rows_ && horizon >= 1 && horizon <= max_horizon_)
      << "policy rollout: " << rows << " rows x horizon " << horizon << " exceeds reserve(" << max_rows_
      << ", " << max_horizon_ << ")";
  params_ = model_.cuda_twin().params();
  const CudaLaunchers& k = cuda_launchers();
  const std::size_t step = static_cast<std::size_t>(rows) * A;
  const float* z = z0;
  for (int t = 0; t < horizon; ++t) {
    float* a = actions + t * step;
    forward(lay.pi, z, rows, pi_);
    k.policy_squash(pi_.y.back().data(), out_bias(lay.pi), eps ? eps + t * step : nullptr, nullptr, nullptr,
                    a, rows, A, c.log_std_min, c.log_std_max, k.stream);
    if (t + 1 == horizon) break;
    float* za = za_[t].data();
    k.copy_rows(z, L, za, L + A, rows, L, k.stream);
    k.copy_rows(a, A, za + L, L + A, rows, A, k.stream);
    forward(lay.dynamics, za, rows, dyn_[t]);
    z = dyn_[t].y.back().data();
  }
}

void Tdmpc2ActionGradientCuda::evaluate(const float* z0, const float* actions, int rows,
                                        const RolloutObjective& obj, float* value, float* grad) {
  const Tdmpc2Config& c = model_.config();
  const Tdmpc2Layout& lay = model_.layout();
  const int H = obj.horizon, L = c.latent_dim, A = c.action_dim, ZA = L + A, K = c.num_q;
  LUCID_CHECK(rows >= 1 && rows <= max_rows_ && H >= 1 && H <= max_horizon_)
      << "action gradient: " << rows << " rows x horizon " << H << " exceeds reserve(" << max_rows_ << ", "
      << max_horizon_ << ")";
  params_ = model_.cuda_twin().params();
  const CudaLaunchers& k = cuda_launchers();
  const float* head_w = obj.head_weights;
  if (obj.terminal_value && head_w == nullptr) {
    std::vector<float> w(static_cast<std::size_t>(K), 0.f);
    const std::size_t n_heads = obj.heads.empty() ? static_cast<std::size_t>(K) : obj.heads.size();
    for (std::size_t i = 0; i < n_heads; ++i) {
      const int h = obj.heads.empty() ? static_cast<int>(i) : obj.heads[i];
      LUCID_CHECK(h >= 0 && h < K) << "Q head " << h << " out of range";
      w[static_cast<std::size_t>(h)] += 1.f / static_cast<float>(n_heads);
    }
    head_w_.copy_from(Tensor::from(w, Shape{K, 1}));
    head_w = head_w_.data();
  }
  const std::size_t step = static_cast<std::size_t>(rows) * A;

  // ---- forward rollout ----
  const float* z = z0;
  float disc = 1.f;
  for (int t = 0; t < H; ++t) {
    float* za = za_[t].data();
    k.copy_rows(z, L, za, ZA, rows, L, k.stream);
    k.copy_rows(actions + t * step, A, za + L, ZA, rows, A, k.stream);
    forward(lay.dynamics, za, rows, dyn_[t]);
    forward(lay.reward, za, rows, rew_[t]);
    k.q_head_decode_forward(rew_[t].y.back().data(), out_bias(lay.reward), nullptr, decode_.data(), 1, rows,
                            c.num_bins, c.vmin, c.vmax, 0, 0, kernels::QCombine::kAvg, k.stream);
    k.rollout_accumulate(value, decode_.data(), disc, t == 0, rows, k.stream);
    disc_[static_cast<std::size_t>(t)] = disc;
    disc *= obj.discount;
    z = dyn_[t].y.back().data();
  }
  const float disc_h = disc;
  const bool shared = obj.uncertainty_coef != 0.f;
  if (!obj.terminal_value && !shared) {
    if (grad) {
      k.fill(dz_.data(), std::int64_t{rows} * L, 0.f, k.stream);
    }
  } else {
    float* za_h = za_[H].data();
    forward(lay.pi, z, rows, pi_);
    k.policy_squash(pi_.y.back().data(), out_bias(lay.pi), obj.terminal_eps, nullptr, nullptr,
                    term_action_.data(), rows, A, c.log_std_min, c.log_std_max, k.stream);
    k.copy_rows(z, L, za_h, ZA, rows, L, k.stream);
    k.copy_rows(term_action_.data(), A, za_h + L, ZA, rows, A, k.stream);
    // The Q heads' batch: every (z_{t+1}, a_t) and then [z_H | pi(z_H)] with the penalty on, the
    // terminal rows alone otherwise.
    const int n_q = shared ? (H + 1) * rows : rows;
    const float* q_in = za_h;
    if (shared) {
      float* in = q_in_.data();
      for (int t = 0; t < H; ++t) {
        float* dst = in + static_cast<std::size_t>(t) * rows * ZA;
        k.copy_rows(dyn_[t].y.back().data(), L, dst, ZA, rows, L, k.stream);
        k.copy_rows(actions + t * step, A, dst + L, ZA, rows, A, k.stream);
      }
      k.copy_rows(za_h, ZA, in + static_cast<std::size_t>(H) * rows * ZA, ZA, rows, ZA, k.stream);
      q_in = in;
    }
    for (int h = 0; h < K; ++h) {
      forward(lay.q[h], q_in, n_q, q_[h]);
      k.q_head_decode_forward(q_[h].y.back().data(), out_bias(lay.q[h]),
                              q_vals_.data() + std::int64_t{h} * n_q, decode_.data(), 1, n_q, c.num_bins,
                              c.vmin, c.vmax, 0, 0, kernels::QCombine::kAvg, k.stream);
    }
    if (shared) k.ensemble_uncertainty(q_vals_.data(), K, n_q, rows, obj.uncertainty_coef, value, k.stream);
    const int row0 = n_q - rows;
    if (obj.terminal_value)
      k.head_weighted_accumulate(q_vals_.data() + row0, n_q, K, head_w, disc_h, value, rows, k.stream);
    if (grad == nullptr) return;

    // ---- backward: the terminal value into z_H, through Q(z_H, .) and through pi(z_H) ----
    k.fill(dz_.data(), std::int64_t{rows} * L, 0.f, k.stream);
    if (obj.terminal_value) {
      k.fill(da_term_.data(), std::int64_t{rows} * A, 0.f, k.stream);
      for (int h = 0; h < K; ++h) {
        k.q_head_decode_scaled_backward(q_[h].y.back().data() + std::int64_t{row0} * c.num_bins,
                                        out_bias(lay.q[h]), head_w + h, disc_h, dlogits_.data(), rows,
                                        c.num_bins, c.vmin, c.vmax, k.stream);
        backward_input(lay.q[h], q_[h], row0, rows, dlogits_.data(), dza_a_.data());
        k.accumulate_rows(dza_a_.data(), ZA, dz_.data(), L, rows, L, k.stream);
        k.accumulate_rows(dza_a_.data() + L, ZA, da_term_.data(), A, rows, A, k.stream);
      }
      k.policy_squash_backward(pi_.y.back().data(), out_bias(lay.pi), obj.terminal_eps, term_action_.data(),
                               da_term_.data(), nullptr, dlogits_.data(), rows, A, c.log_std_min,
                               c.log_std_max, k.stream);
      backward_input(lay.pi, pi_, 0, rows, dlogits_.data(), dza_b_.data());
      k.accumulate_rows(dza_b_.data(), L, dz_.data(), L, rows, L, k.stream);
    }
  }
  if (grad == nullptr) return;

  // ---- back along the rollout: dz_ holds dJ/dz_{t+1} ----
  for (int t = H - 1; t >= 0; --t) {
    backward_input(lay.dynamics, dyn_[t], 0, rows, dz_.data(), dza_a_.data());
    k.q_head_decode_scaled_backward(rew_[t].y.back().data(), out_bias(lay.reward), nullptr,
                                    disc_[static_cast<std::size_t>(t)], dlogits_.data(), rows, c.num_bins,
                                    c.vmin, c.vmax, k.stream);
    backward_input(lay.reward, rew_[t], 0, rows, dlogits_.data(), dza_b_.data());
    float* ga = grad + t * step;
    k.copy_rows(dza_a_.data() + L, ZA, ga, A, rows, A, k.stream);
    k.accumulate_rows(dza_b_.data() + L, ZA, ga, A, rows, A, k.stream);
    if (t > 0) {
      k.copy_rows(dza_a_.data(), ZA, dz_.data(), L, rows, L, k.stream);
      k.accumulate_rows(dza_b_.data(), ZA, dz_.data(), L, rows, L, k.stream);
    }
  }
}

}  // namespace lucid::models::tdmpc2
