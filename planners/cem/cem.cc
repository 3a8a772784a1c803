// CEM planner (see cem.h for the algorithm and memory contract).
//
// Row layout: observation b owns rows [b * S, (b + 1) * S) of every (rows, .) buffer.
#include "lucid/planners/cem.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "lucid/engine/profile.h"
#include "lucid/error.h"
#include "lucid/planners/elite_refit.h"

namespace lucid::planners {

Cem::Cem(const PlannerConfig& config) : cfg_(config) {
  LUCID_CHECK_AS(cfg_.horizon >= 1 && cfg_.iterations >= 1, ConfigError)
      << "cem: horizon and iterations >= 1";
  LUCID_CHECK_AS(cfg_.num_elites >= 1 && cfg_.num_elites <= cfg_.num_samples, ConfigError)
      << "cem: need 1 <= num_elites (" << cfg_.num_elites << ") <= num_samples (" << cfg_.num_samples << ")";
  LUCID_CHECK_AS(cfg_.min_std > 0.f && cfg_.min_std <= cfg_.max_std && cfg_.temperature >= 0.f, ConfigError)
      << "cem: 0 < min_std <= max_std and temperature >= 0";
}

void Cem::allocate(int max_batch) {
  LUCID_CHECK_AS(max_batch > 0 && cfg_.action_dim > 0 && cfg_.latent_dim > 0, ConfigError)
      << "cem: max_batch, action_dim and latent_dim must be positive";
  max_batch_ = max_batch;
  const int H = cfg_.horizon, A = cfg_.action_dim, L = cfg_.latent_dim, S = cfg_.num_samples;
  const std::int64_t rows = static_cast<std::int64_t>(max_batch) * S;
  z0_ = Tensor::zeros(Shape{max_batch, L});
  z_start_ = Tensor::zeros(Shape{rows, L});
  z_a_ = Tensor::zeros(Shape{rows, L});
  z_b_ = Tensor::zeros(Shape{rows, L});
  actions_ = Tensor::zeros(Shape{H, rows, A});
  reward_ = Tensor::zeros(Shape{rows, 1});
  value_t_ = Tensor::zeros(Shape{rows, 1});
  term_action_ = Tensor::zeros(Shape{rows, A});
  out_ = Tensor::zeros(Shape{max_batch, A});
  value_.assign(rows, 0.f);
  noise_.assign(static_cast<std::size_t>(rows) * H * A, 0.f);
  mean_.assign(static_cast<std::size_t>(max_batch) * H * A, 0.f);
  std_.assign(mean_.size(), cfg_.max_std);
  prev_mean_.assign(mean_.size(), 0.f);
  weight_.assign(cfg_.num_elites, 0.f);
  order_.assign(S, 0);
  trace_.reserve(cfg_.iterations);
  view_batch_ = -1;
  warm_ = false;
}

void Cem::make_views(int batch) {
  if (batch == view_batch_) return;
  const std::int64_t rows = static_cast<std::int64_t>(batch) * cfg_.num_samples;
  v_.z0 = z0_.view_rows(0, batch);
  v_.z_start = z_start_.view_rows(0, rows);
  v_.z_a = z_a_.view_rows(0, rows);
  v_.z_b = z_b_.view_rows(0, rows);
  v_.reward = reward_.view_rows(0, rows);
  v_.value = value_t_.view_rows(0, rows);
  v_.term_action = term_action_.view_rows(0, rows);
  v_.out = out_.view_rows(0, batch);
  v_.actions.clear();
  for (int t = 0; t < cfg_.horizon; ++t) v_.actions.push_back(actions_[t].view_rows(0, rows));
  view_batch_ = batch;
}

void Cem::evaluate(const models::WorldModel& model, int batch) {
  const std::int64_t rows = static_cast<std::int64_t>(batch) * cfg_.num_samples;
  std::memcpy(v_.z_a.data(), v_.z_start.data(), sizeof(float) * rows * cfg_.latent_dim);
  std::fill(value_.begin(), value_.begin() + rows, 0.f);
  Tensor* z = &v_.z_a;
  Tensor* z_next = &v_.z_b;
  float discount = 1.f;
  for (int t = 0; t < cfg_.horizon; ++t) {
    model.reward_into(*z, v_.actions[t], v_.reward);
    model.next_into(*z, v_.actions[t], *z_next);
    for (std::int64_t i = 0; i < rows; ++i) value_[i] += discount * v_.reward.data()[i];
    discount *= cfg_.discount;
    std::swap(z, z_next);
  }
  model.policy_action_into(*z, Tensor(), v_.term_action);
  model.value_into(*z, v_.term_action, {}, v_.value);
  for (std::int64_t i = 0; i < rows; ++i) {
    const float v = value_[i] + discount * v_.value.data()[i];
    value_[i] = std::isnan(v) ? 0.f : std::clamp(v, -FLT_MAX, FLT_MAX);
  }
}

Tensor Cem::plan(const models::WorldModel& model, const Tensor& obs, Rng& rng, bool eval) {
  LUCID_CHECK(max_batch_ > 0) << "cem: call allocate() before plan()";
  const std::int64_t batch64 = obs.shape().rows();
  LUCID_CHECK_SHAPE(batch64 >= 1 && batch64 <= max_batch_)
      << "cem: batch " << batch64 << " outside [1, " << max_batch_ << "]";
  LUCID_CHECK_SHAPE(model.action_dim() == cfg_.action_dim && model.latent_dim() == cfg_.latent_dim)
      << "cem: configured for action " << cfg_.action_dim << " / latent " << cfg_.latent_dim << ", model has "
      << model.action_dim() << " / " << model.latent_dim();
  const int B = static_cast<int>(batch64);
  const int H = cfg_.horizon, A = cfg_.action_dim, L = cfg_.latent_dim, S = cfg_.num_samples,
            K = cfg_.num_elites;
  if (B != view_batch_) warm_ = false;
  make_views(B);
  model.encode_into(obs, v_.z0);
  for (int r = 0; r < B * S; ++r)
    std::memcpy(v_.z_start.data() + static_cast<std::size_t>(r) * L,
                v_.z0.data() + static_cast<std::size_t>(r / S) * L, sizeof(float) * L);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < H; ++t)
      for (int j = 0; j < A; ++j) {
        const std::size_t i = (static_cast<std::size_t>(b) * H + t) * A + j;
        mean_[i] =
            warm_ ? prev_mean_[(static_cast<std::size_t>(b) * H + std::min(t + 1, H - 1)) * A + j] : 0.f;
        std_[i] = cfg_.max_std;
      }

  trace_.clear();
  for (int it = 0; it < cfg_.iterations; ++it) {
    const ProfileRange range("plan/iteration");
    rng.normal(noise_.data(), static_cast<std::size_t>(B) * S * H * A);
    std::size_t k = 0;
    for (int t = 0; t < H; ++t) {
      float* act = v_.actions[t].data();
      for (int b = 0; b < B; ++b) {
        const float* mu = mean_.data() + (static_cast<std::size_t>(b) * H + t) * A;
        const float* sd = std_.data() + (static_cast<std::size_t>(b) * H + t) * A;
        for (int s = 0; s < S; ++s)
          for (int j = 0; j < A; ++j)
            act[(static_cast<std::size_t>(b) * S + s) * A + j] =
                std::clamp(mu[j] + sd[j] * noise_[k++], -1.f, 1.f);
      }
    }
    evaluate(model, B);
    for (int b = 0; b < B; ++b) {
      const float* val = value_.data() + static_cast<std::size_t>(b) * S;
      for (int s = 0; s < S; ++s) order_[s] = s;
      std::partial_sort(order_.begin(), order_.begin() + K, order_.end(),
                        [val](int x, int y) { return val[x] > val[y] || (val[x] == val[y] && x < y); });
      const float v_max = val[order_[0]];
      float sum = 0.f, elite_mean = 0.f;
      for (int e = 0; e < K; ++e) {
        weight_[e] = std::exp(cfg_.temperature * (val[order_[e]] - v_max));
        sum += weight_[e];
        elite_mean += val[order_[e]] / static_cast<float>(K);
      }
      if (b == 0) trace_.push_back(elite_mean);
      for (int t = 0; t < H; ++t) {
        const float* act = v_.actions[t].data() + static_cast<std::size_t>(b) * S * A;
        float* mu = mean_.data() + (static_cast<std::size_t>(b) * H + t) * A;
        float* sd = std_.data() + (static_cast<std::size_t>(b) * H + t) * A;
        elite_refit(act, order_.data(), weight_.data(), K, A, sum, cfg_.min_std, cfg_.max_std, mu, sd);
      }
    }
  }
  const ProfileRange range("plan/select");
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < A; ++j) {
      const std::size_t i = static_cast<std::size_t>(b) * H * A + j;
      float a = mean_[i];
      if (!eval) a += std_[i] * rng.normal();
      v_.out.data()[static_cast<std::size_t>(b) * A + j] = std::clamp(a, -1.f, 1.f);
    }
  std::copy(mean_.begin(), mean_.begin() + static_cast<std::ptrdiff_t>(B) * H * A, prev_mean_.begin());
  warm_ = true;
  return v_.out;
}

}  // namespace lucid::planners
