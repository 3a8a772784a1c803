// The BMPC action gradient: Dream-MPC's objective (models/action_gradient.h) on a BMPC model,
// whose values are V(z) heads, so the terminal value is mean_heads V(z_H) and the uncertainty is
// u(z) = mean_k V_k(z) * std_k V_k(z) (Bessel) over all V heads. Following the objective's
// definition, u is charged at z_1 .. z_H and once more at the terminal z_H (pi(z_H) does not
// enter a V head), and carries no gradient.
//
// Built on TD-MPC2's mlp_forward / mlp_backward with parameter gradients switched off (grads =
// nullptr): one MlpCache per horizon step for dynamics and reward, one per terminal head, so the
// backward walks back through time on what the forward saved. Memory: every cache and buffer is
// sized by reserve(rows, horizon); evaluate() and policy_rollout() within those bounds allocate
// nothing. value and grad are written (=).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "lucid/error.h"
#include "lucid/models/bmpc/model.h"

namespace lucid::models::bmpc {
namespace {

using tdmpc2::concat_rows;
using tdmpc2::Mlp;
using tdmpc2::mlp_backward;
using tdmpc2::mlp_forward;
using tdmpc2::MlpCache;

// 2 m n k per GEMM: the forward's x W^T, and the input-only backward's dh W.
std::uint64_t mlp_flops(const Mlp& m, int rows, bool backward) {
  std::uint64_t f = 0;
  for (const auto& l : m.layers()) f += 2ull * static_cast<std::uint64_t>(rows) * l.in * l.out;
  return backward ? 2 * f : f;
}

class BmpcActionGradient final : public ActionGradient {
 public:
  explicit BmpcActionGradient(const BmpcModel& model) : model_(model) {}

  void reserve(int rows, int horizon) override {
    LUCID_CHECK(rows > 0 && horizon > 0) << "BMPC action gradient: rows and horizon must be positive";
    const auto& c = model_.config();
    const auto& lay = model_.layout();
    const int L = c.latent_dim, A = c.action_dim;
    max_rows_ = std::max(max_rows_, rows);
    max_h_ = std::max(max_h_, horizon);
    dyn_.resize(max_h_);
    rew_.resize(max_h_);
    for (auto& m : dyn_) m.reserve(lay.dynamics, max_rows_);
    for (auto& m : rew_) m.reserve(lay.reward, max_rows_);
    term_.resize(c.num_q);
    for (auto& m : term_) m.reserve(lay.v.front(), max_rows_);
    unc_.reserve(lay.v.front(), max_rows_ * max_h_);
    zs_.resize(static_cast<std::size_t>(max_h_ + 1) * max_rows_ * L);
    dz_.resize(static_cast<std::size_t>(max_rows_) * L);
    dx_.resize(static_cast<std::size_t>(max_rows_) * (L + A));
    dlogits_.resize(static_cast<std::size_t>(max_rows_) * c.num_bins);
    decode_.resize(static_cast<std::size_t>(max_rows_) * max_h_);
    unc_vals_.resize(static_cast<std::size_t>(c.num_q) * max_rows_ * max_h_);
    g_.resize(max_rows_);
  }

  void evaluate(const float* z0, const float* actions, int rows, const RolloutObjective& obj, float* value,
                float* grad) override {
    const auto& c = model_.config();
    const auto& lay = model_.layout();
    const int H = obj.horizon, L = c.latent_dim, A = c.action_dim, NQ = c.num_q;
    LUCID_CHECK(rows >= 1 && rows <= max_rows_ && H >= 1 && H <= max_h_)
        << "BMPC action gradient: " << rows << " rows x horizon " << H << " outside the reserved "
        << max_rows_ << " x " << max_h_;
    const std::uint64_t ver = model_.weights_version();
    const std::size_t zstep = static_cast<std::size_t>(rows) * L;
    std::memcpy(zs_.data(), z0, sizeof(float) * zstep);
    std::fill(value, value + rows, 0.f);
    float disc = 1.f;
    for (int t = 0; t < H; ++t, disc *= obj.discount) {
      const float* z = zs_.data() + t * zstep;
      const float* a = actions + static_cast<std::size_t>(t) * rows * A;
      concat_rows(z, L, a, A, rows, rew_[t].input());
      mlp_forward(lay.reward, model_.block(lay.reward), rew_[t], rows, nullptr, ver);
      tdmpc2::two_hot_inv_rows(rew_[t].output(), rows, c, decode_.data());
      for (int r = 0; r < rows; ++r) value[r] += disc * decode_[r];
      std::memcpy(dyn_[t].input(), rew_[t].input(), sizeof(float) * rows * (L + A));
      mlp_forward(lay.dynamics, model_.block(lay.dynamics), dyn_[t], rows, nullptr, ver);
      std::memcpy(zs_.data() + (t + 1) * zstep, dyn_[t].output(), sizeof(float) * zstep);
      flops_ += mlp_flops(lay.reward, rows, grad) + mlp_flops(lay.dynamics, rows, grad);
    }
    const float* z_h = zs_.data() + H * zstep;
    const int n_heads = obj.heads.empty() ? NQ : static_cast<int>(obj.heads.size());
    auto head_of = [&](int i) { return obj.heads.empty() ? i : obj.heads[i]; };
    if (obj.terminal_value) {
      for (int i = 0; i < n_heads; ++i) {
        const int h = head_of(i);
        LUCID_CHECK(h >= 0 && h < NQ) << "V head " << h << " out of range [0, " << NQ << ")";
        std::memcpy(term_[i].input(), z_h, sizeof(float) * zstep);
        mlp_forward(lay.v[h], model_.block(lay.v[h]), term_[i], rows, nullptr, ver);
        tdmpc2::two_hot_inv_rows(term_[i].output(), rows, c, decode_.data());
        for (int r = 0; r < rows; ++r) value[r] += disc * decode_[r] / static_cast<float>(n_heads);
        flops_ += mlp_flops(lay.v[h], rows, grad);
      }
    }
    if (obj.uncertainty_coef != 0.f) {
      // All heads over z_1 .. z_H in one batch of H * rows; no gradient.
      const int ur = H * rows;
      for (int k = 0; k < NQ; ++k) {
        std::memcpy(unc_.input(), zs_.data() + zstep, sizeof(float) * ur * L);
        mlp_forward(lay.v[k], model_.block(lay.v[k]), unc_, ur, nullptr, ver);
        tdmpc2::two_hot_inv_rows(unc_.output(), ur, c, unc_vals_.data() + static_cast<std::size_t>(k) * ur);
        flops_ += mlp_flops(lay.v[k], ur, false);
      }
      for (int r = 0; r < rows; ++r) {
        float u_sum = 0.f;
        for (int t = 0; t < H; ++t) {
          double mean = 0.0, sq = 0.0;
          for (int k = 0; k < NQ; ++k) mean += unc_vals_[static_cast<std::size_t>(k) * ur + t * rows + r];
          mean /= NQ;
          for (int k = 0; k < NQ; ++k) {
            const double d = unc_vals_[static_cast<std::size_t>(k) * ur + t * rows + r] - mean;
            sq += d * d;
          }
          const double sd = NQ > 1 ? std::sqrt(sq / (NQ - 1)) : 0.0;
          const float u = static_cast<float>(mean * sd);
          u_sum += u;
          if (t == H - 1) u_sum += u;  // the terminal term u(z_H, pi(z_H)) = u(z_H)
        }
        value[r] -= obj.uncertainty_coef * u_sum;
      }
    }
    for (int r = 0; r < rows; ++r)
      if (std::isnan(value[r])) value[r] = 0.f;  // nan_to_num, as the official planner
    if (!grad) return;

    // Backward: dJ/dz_H from the terminal heads, then back through time.
    std::fill(dz_.begin(), dz_.begin() + static_cast<std::ptrdiff_t>(zstep), 0.f);
    float disc_h = 1.f;
    for (int t = 0; t < H; ++t) disc_h *= obj.discount;
    if (obj.terminal_value) {
      std::fill(g_.begin(), g_.begin() + rows, disc_h / static_cast<float>(n_heads));
      for (int i = 0; i < n_heads; ++i) {
        const Mlp& head = lay.v[head_of(i)];
        tdmpc2::two_hot_inv_backward_rows(term_[i].output(), g_.data(), rows, c, dlogits_.data());
        mlp_backward(head, model_.block(head), nullptr, term_[i], dlogits_.data(), dx_.data());
        for (std::size_t k = 0; k < zstep; ++k) dz_[k] += dx_[k];
      }
    }
    for (int t = H - 1; t >= 0; --t) {
      const float dt = std::pow(obj.discount, static_cast<float>(t));
      float* ga = grad + static_cast<std::size_t>(t) * rows * A;
      // Dynamics: dz_{t+1} -> [dz_t | da_t].
      mlp_backward(lay.dynamics, model_.block(lay.dynamics), nullptr, dyn_[t], dz_.data(), dx_.data());
      for (int r = 0; r < rows; ++r) {
        const float* d = dx_.data() + static_cast<std::size_t>(r) * (L + A);
        std::memcpy(dz_.data() + static_cast<std::size_t>(r) * L, d, sizeof(float) * L);
        std::memcpy(ga + static_cast<std::size_t>(r) * A, d + L, sizeof(float) * A);
      }
      // Reward gamma^t R(z_t, a_t).
      std::fill(g_.begin(), g_.begin() + rows, dt);
      tdmpc2::two_hot_inv_backward_rows(rew_[t].output(), g_.data(), rows, c, dlogits_.data());
      mlp_backward(lay.reward, model_.block(lay.reward), nullptr, rew_[t], dlogits_.data(), dx_.data());
      for (int r = 0; r < rows; ++r) {
        const float* d = dx_.data() + static_cast<std::size_t>(r) * (L + A);
        float* dzr = dz_.data() + static_cast<std::size_t>(r) * L;
        for (int j = 0; j < L; ++j) dzr[j] += d[j];
        for (int j = 0; j < A; ++j) ga[static_cast<std::size_t>(r) * A + j] += d[L + j];
      }
    }
  }

  void policy_rollout(const float* z0, const float* eps, int rows, int horizon, float* actions) override {
    const auto& c = model_.config();
    const int L = c.latent_dim, A = c.action_dim;
    LUCID_CHECK(rows >= 1 && rows <= max_rows_ && horizon >= 1 && horizon <= max_h_)
        << "BMPC policy rollout: " << rows << " x " << horizon << " outside the reserved bounds";
    const std::size_t zstep = static_cast<std::size_t>(rows) * L;
    std::memcpy(zs_.data(), z0, sizeof(float) * zstep);
    for (int t = 0; t < horizon; ++t) {
      const std::size_t off = static_cast<std::size_t>(t) * rows * A;
      model_.pi_action_raw(zs_.data(), eps ? eps + off : nullptr, rows, actions + off);
      if (t + 1 < horizon) {
        model_.next_raw(zs_.data(), actions + off, rows, zs_.data() + zstep);
        std::memcpy(zs_.data(), zs_.data() + zstep, sizeof(float) * zstep);
      }
      flops_ += mlp_flops(model_.layout().pi, rows, false);
      if (t + 1 < horizon) flops_ += mlp_flops(model_.layout().dynamics, rows, false);
    }
  }

  std::uint64_t gemm_flops() const override { return flops_; }

 private:
  const BmpcModel& model_;
  int max_rows_ = 0, max_h_ = 0;
  std::uint64_t flops_ = 0;
  std::vector<MlpCache> dyn_, rew_, term_;
  MlpCache unc_;
  std::vector<float> zs_, dz_, dx_, dlogits_, decode_, unc_vals_, g_;
};

}  // namespace

std::unique_ptr<ActionGradient> BmpcModel::make_action_gradient() const {
  return std::make_unique<BmpcActionGradient>(*this);
}

}  // namespace lucid::models::bmpc
