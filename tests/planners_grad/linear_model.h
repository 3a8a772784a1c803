// A linear world model with quadratic reward, for planner tests with a known optimum.
//
//   encode(obs) = obs                                   z (B, L), obs_dim = L
//   next(z, a)  = F z + G a                             F (L, L), G (L, A)
//   R(z, a)     = -|M z + N a - g|^2 - beta |a|^2       M (L, L), N (L, A), g (L)
//   Q_k(z, a)   = v0 + delta_k w(z)   (also V_k(z))     w(z) = bump_height inside the ball
//                                                        |z - bump_center| < bump_radius, else 0
//   policy      = tanh(policy_mean + eps), log_std 0
// The ensemble agrees (delta sums to 0 and every head pair of two heads averages to v0) outside
// the bump and disagrees inside it, so mean * std marks a region to avoid; w is piecewise
// constant, so values carry no action gradient. The model is its own ActionGradientSource: J and
// dJ/da by hand-written backpropagation (checked against finite differences in the tests).
#pragma once

#include <cmath>
#include <memory>
#include <numeric>
#include <vector>

#include "lucid/models/action_gradient.h"
#include "lucid/models/world_model.h"

namespace lucid::testing {

struct LinearModelSpec {
  int L = 2, A = 2;
  std::vector<float> F, G, M, N, g;  // row-major
  float beta = 0.f;
  float v0 = 1.f;
  std::vector<float> delta{-1.f, 1.f};  // one per head; two heads: every pair mean is v0
  std::vector<float> bump_center;       // L values; empty: no bump
  float bump_radius = 0.f, bump_height = 0.f;
  float policy_mean = 0.f;
  bool uses_action = true;
};

class LinearModel final : public models::WorldModel, public models::ActionGradientSource {
 public:
  explicit LinearModel(LinearModelSpec s) : s_(std::move(s)) {}
  const LinearModelSpec& spec() const { return s_; }

  int observation_dim() const override { return s_.L; }
  int action_dim() const override { return s_.A; }
  int latent_dim() const override { return s_.L; }
  int num_values() const override { return static_cast<int>(s_.delta.size()); }
  bool value_uses_action() const override { return s_.uses_action; }

  // ---- scalar helpers on one row ----
  void next_row(const float* z, const float* a, float* zn) const {
    for (int i = 0; i < s_.L; ++i) {
      float v = 0.f;
      for (int j = 0; j < s_.L; ++j) v += s_.F[i * s_.L + j] * z[j];
      for (int j = 0; j < s_.A; ++j) v += s_.G[i * s_.A + j] * a[j];
      zn[i] = v;
    }
  }
  // Residual e = M z + N a - g (L values); returns the reward.
  float reward_row(const float* z, const float* a, float* e) const {
    float r = 0.f;
    for (int i = 0; i < s_.L; ++i) {
      float v = -s_.g[i];
      for (int j = 0; j < s_.L; ++j) v += s_.M[i * s_.L + j] * z[j];
      for (int j = 0; j < s_.A; ++j) v += s_.N[i * s_.A + j] * a[j];
      e[i] = v;
      r -= v * v;
    }
    for (int j = 0; j < s_.A; ++j) r -= s_.beta * a[j] * a[j];
    return r;
  }
  float bump(const float* z) const {
    if (s_.bump_center.empty()) return 0.f;
    float d2 = 0.f;
    for (int i = 0; i < s_.L; ++i) d2 += (z[i] - s_.bump_center[i]) * (z[i] - s_.bump_center[i]);
    return d2 < s_.bump_radius * s_.bump_radius ? s_.bump_height : 0.f;
  }
  float head_value(int k, const float* z) const { return s_.v0 + s_.delta[k] * bump(z); }
  // mean * std (Bessel) over all heads at z.
  float uncertainty(const float* z) const {
    const int K = num_values();
    float mean = 0.f, var = 0.f;
    for (int k = 0; k < K; ++k) mean += head_value(k, z) / static_cast<float>(K);
    for (int k = 0; k < K; ++k) var += (head_value(k, z) - mean) * (head_value(k, z) - mean);
    return K > 1 ? mean * std::sqrt(var / static_cast<float>(K - 1)) : 0.f;
  }

  // ---- WorldModel ----
  void encode_into(const Tensor& obs, const Tensor& z) const override {
    std::copy(obs.data(), obs.data() + obs.numel(), z.data());
  }
  void next_into(const Tensor& z, const Tensor& a, const Tensor& zn) const override {
    for (std::int64_t b = 0; b < z.size(0); ++b)
      next_row(z.data() + b * s_.L, a.data() + b * s_.A, zn.data() + b * s_.L);
  }
  void reward_into(const Tensor& z, const Tensor& a, const Tensor& r) const override {
    std::vector<float> e(s_.L);
    for (std::int64_t b = 0; b < z.size(0); ++b)
      r.data()[b] = reward_row(z.data() + b * s_.L, a.data() + b * s_.A, e.data());
  }
  void value_into(const Tensor& z, const Tensor&, std::span<const int> heads,
                  const Tensor& v) const override {
    std::vector<int> all(num_values());
    std::iota(all.begin(), all.end(), 0);
    if (heads.empty()) heads = all;
    for (std::int64_t b = 0; b < z.size(0); ++b) {
      float m = 0.f;
      for (int k : heads) m += head_value(k, z.data() + b * s_.L) / static_cast<float>(heads.size());
      v.data()[b] = m;
    }
  }
  void value_ensemble_into(const Tensor& z, const Tensor&, const Tensor& vs) const override {
    const std::int64_t B = z.size(0);
    for (int k = 0; k < num_values(); ++k)
      for (std::int64_t b = 0; b < B; ++b) vs.data()[k * B + b] = head_value(k, z.data() + b * s_.L);
  }
  void policy_into(const Tensor&, const Tensor& mean, const Tensor& log_std) const override {
    mean.fill(s_.policy_mean);
    log_std.fill(0.f);
  }
  void policy_action_into(const Tensor&, const Tensor& eps, const Tensor& action) const override {
    for (std::int64_t i = 0; i < action.numel(); ++i)
      action.data()[i] = std::tanh(s_.policy_mean + (eps.defined() ? eps.data()[i] : 0.f));
  }

  // ---- ActionGradientSource ----
  std::unique_ptr<models::ActionGradient> make_action_gradient() const override;

 private:
  LinearModelSpec s_;
};

// J and dJ/da of the linear model by hand (the adjoint of z_{t+1} = F z_t + G a_t).
class LinearActionGradient final : public models::ActionGradient {
 public:
  explicit LinearActionGradient(const LinearModel& m) : m_(m) {}
  void reserve(int rows, int horizon) override {
    z_.resize(static_cast<std::size_t>(horizon + 1) * rows * m_.latent_dim());
    e_.resize(static_cast<std::size_t>(horizon) * rows * m_.latent_dim());
    lam_.resize(m_.latent_dim());
    tmp_.resize(m_.latent_dim());
  }
  void evaluate(const float* z0, const float* actions, int rows, const models::RolloutObjective& obj,
                float* value, float* grad) override {
    const auto& s = m_.spec();
    const int L = s.L, A = s.A, H = obj.horizon;
    auto zt = [&](int t, int r) { return z_.data() + (static_cast<std::size_t>(t) * rows + r) * L; };
    auto at = [&](const float* base, int t, int r) {
      return base + (static_cast<std::size_t>(t) * rows + r) * A;
    };
    for (int r = 0; r < rows; ++r) {
      std::copy(z0 + static_cast<std::size_t>(r) * L, z0 + static_cast<std::size_t>(r + 1) * L, zt(0, r));
      float J = 0.f, disc = 1.f;
      for (int t = 0; t < H; ++t) {
        J += disc * m_.reward_row(zt(t, r), at(actions, t, r),
                                  e_.data() + (static_cast<std::size_t>(t) * rows + r) * L);
        m_.next_row(zt(t, r), at(actions, t, r), zt(t + 1, r));
        disc *= obj.discount;
      }
      if (obj.terminal_value) {
        float v = 0.f;
        const int n = obj.heads.empty() ? m_.num_values() : static_cast<int>(obj.heads.size());
        for (int i = 0; i < n; ++i) v += m_.head_value(obj.heads.empty() ? i : obj.heads[i], zt(H, r)) / n;
        J += disc * v;
      }
      if (obj.uncertainty_coef != 0.f) {
        for (int t = 1; t <= H; ++t) J -= obj.uncertainty_coef * m_.uncertainty(zt(t, r));
        J -= obj.uncertainty_coef * m_.uncertainty(zt(H, r));  // u(z_H, pi(z_H)); Q ignores a
      }
      value[r] = J;
      ++evaluations_;
      if (!grad) continue;
      // Backward: lam = dJ/dz_{t+1}; the terminal value is piecewise constant in z (no gradient).
      std::fill(lam_.begin(), lam_.end(), 0.f);
      float d = 1.f;
      for (int t = 0; t < H - 1; ++t) d *= obj.discount;
      for (int t = H - 1; t >= 0; --t) {
        const float* e = e_.data() + (static_cast<std::size_t>(t) * rows + r) * L;
        const float* a = at(actions, t, r);
        float* ga = grad + (static_cast<std::size_t>(t) * rows + r) * A;
        for (int j = 0; j < A; ++j) {
          float v = -2.f * d * s.beta * a[j];
          for (int i = 0; i < L; ++i) v += s.G[i * A + j] * lam_[i] - 2.f * d * s.N[i * A + j] * e[i];
          ga[j] = v;
        }
        for (int j = 0; j < L; ++j) {
          float v = 0.f;
          for (int i = 0; i < L; ++i) v += s.F[i * L + j] * lam_[i] - 2.f * d * s.M[i * L + j] * e[i];
          tmp_[j] = v;
        }
        lam_ = tmp_;
        if (obj.discount != 0.f) d /= obj.discount;
      }
    }
  }
  void policy_rollout(const float*, const float* eps, int rows, int horizon, float* actions) override {
    const std::size_t n = static_cast<std::size_t>(horizon) * rows * m_.action_dim();
    for (std::size_t i = 0; i < n; ++i) actions[i] = std::tanh(m_.spec().policy_mean + (eps ? eps[i] : 0.f));
  }
  std::uint64_t gemm_flops() const override { return 0; }
  int evaluations() const { return evaluations_; }

 private:
  const LinearModel& m_;
  std::vector<float> z_, e_, lam_, tmp_;
  int evaluations_ = 0;
};

inline std::unique_ptr<models::ActionGradient> LinearModel::make_action_gradient() const {
  return std::make_unique<LinearActionGradient>(*this);
}

}  // namespace lucid::testing
