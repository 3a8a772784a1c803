// Grad-MPC and Policy+Grad-MPC (see grad_mpc.h for the algorithm and memory contract).
#include "lucid/planners/grad_mpc.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "lucid/engine/profile.h"
#include "lucid/error.h"
#include "lucid/planners/action_ascent.h"

namespace lucid::planners {

GradMpc::GradMpc(const PlannerConfig& config, Init init) : cfg_(config), init_(init) {
  LUCID_CHECK_AS(cfg_.horizon >= 1 && cfg_.iterations >= 0 && num_candidates() >= 1, ConfigError)
      << name() << ": horizon >= 1, iterations >= 0 and at least one candidate required";
  LUCID_CHECK_AS(cfg_.grad_clip_norm > 0.f && cfg_.mpc_lr >= 0.f, ConfigError)
      << name() << ": grad_clip_norm > 0 and mpc_lr >= 0 required";
}

void GradMpc::allocate(int max_batch) {
  LUCID_CHECK_AS(max_batch > 0 && cfg_.action_dim > 0 && cfg_.latent_dim > 0, ConfigError)
      << name() << ": max_batch, action_dim and latent_dim must be positive";
  max_batch_ = max_batch;
  const int H = cfg_.horizon, A = cfg_.action_dim, L = cfg_.latent_dim, C = num_candidates();
  const std::int64_t rows = static_cast<std::int64_t>(max_batch) * C;
  z0_ = Tensor::zeros(Shape{max_batch, L});
  z_rows_ = Tensor::zeros(Shape{rows, L});
  out_ = Tensor::zeros(Shape{max_batch, A});
  actions_.assign(static_cast<std::size_t>(H) * rows * A, 0.f);
  grad_buf_.assign(actions_.size(), 0.f);
  if (init_ == Init::kPolicy) eps_.assign(actions_.size(), 0.f);
  value_.assign(rows, 0.f);
  trace_.reserve(cfg_.iterations + 1);
  grad_model_ = nullptr;
  grad_.reset();
  view_batch_ = -1;
}

Tensor GradMpc::plan(const models::WorldModel& model, const Tensor& obs, Rng& rng, bool /*eval*/) {
  LUCID_CHECK(max_batch_ > 0) << name() << ": call allocate() before plan()";
  const std::int64_t batch64 = obs.shape().rows();
  LUCID_CHECK_SHAPE(batch64 >= 1 && batch64 <= max_batch_)
      << name() << ": batch " << batch64 << " outside [1, " << max_batch_ << "]";
  LUCID_CHECK_SHAPE(model.action_dim() == cfg_.action_dim && model.latent_dim() == cfg_.latent_dim)
      << name() << ": configured for action " << cfg_.action_dim << " / latent " << cfg_.latent_dim
      << ", model has " << model.action_dim() << " / " << model.latent_dim();
  const int B = static_cast<int>(batch64);
  const int H = cfg_.horizon, A = cfg_.action_dim, L = cfg_.latent_dim, C = num_candidates();
  const int rows = B * C;
  const std::size_t step = static_cast<std::size_t>(rows) * A;
  if (grad_model_ != &model) {
    grad_ = models::make_action_gradient(model);
    grad_->reserve(max_batch_ * C, H);
    grad_model_ = &model;
  }
  if (B != view_batch_) {  // views are rebuilt only when the batch size changes
    v_.z0 = z0_.view_rows(0, B);
    v_.z_rows = z_rows_.view_rows(0, rows);
    v_.out = out_.view_rows(0, B);
    view_batch_ = B;
  }
  const Tensor& z0 = v_.z0;
  const Tensor& z_rows = v_.z_rows;
  std::optional<ProfileRange> prior_range(std::in_place, "plan/prior_rollout");
  model.encode_into(obs, z0);
  for (int r = 0; r < rows; ++r)
    std::memcpy(z_rows.data() + static_cast<std::size_t>(r) * L,
                z0.data() + static_cast<std::size_t>(r / C) * L, sizeof(float) * L);

  if (init_ == Init::kGaussian) {
    rng.normal(actions_.data(), H * step);  // Algorithm 1: a ~ Normal(0, 1)
  } else {
    for (int t = 0; t < H; ++t) {
      float* e = eps_.data() + t * step;
      rng.normal(e, step);
      for (int b = 0; b < B; ++b)  // candidate 0 of each observation follows the policy mean
        std::fill_n(e + static_cast<std::size_t>(b) * C * A, A, 0.f);
    }
    grad_->policy_rollout(z_rows.data(), eps_.data(), rows, H, actions_.data());
  }

  prior_range.reset();
  models::RolloutObjective obj;
  obj.horizon = H;
  if (init_ == Init::kPolicy) {
    obj.discount = cfg_.discount;
    obj.terminal_value = true;
  }
  auto trace = [&] {
    float m = 0.f;
    for (int n = 0; n < C; ++n) m += value_[n];
    trace_.push_back(m / static_cast<float>(C));
  };
  trace_.clear();
  for (int it = 0; it < cfg_.iterations; ++it) {
    const ProfileRange range("plan/iteration");
    grad_->evaluate(z_rows.data(), actions_.data(), rows, obj, value_.data(), grad_buf_.data());
    trace();
    clip_grad_norm_per_obs(grad_buf_.data(), H, B, C, A, cfg_.grad_clip_norm);
    ascend(actions_.data(), grad_buf_.data(), static_cast<long long>(H) * step, cfg_.mpc_lr);
    for (std::size_t i = 0; i < H * step; ++i) actions_[i] = std::clamp(actions_[i], -1.f, 1.f);
  }
  if (init_ == Init::kGaussian && cfg_.iterations == 0)
    for (std::size_t i = 0; i < H * step; ++i) actions_[i] = std::clamp(actions_[i], -1.f, 1.f);
  // Algorithm 1 line 10: rank the final sequences by their objective.
  const ProfileRange range("plan/select");
  grad_->evaluate(z_rows.data(), actions_.data(), rows, obj, value_.data(), nullptr);
  trace();
  for (int b = 0; b < B; ++b) {
    const int k = best_candidate(value_.data(), b, C);
    const float* a0 = actions_.data() + (static_cast<std::size_t>(b) * C + k) * A;
    for (int j = 0; j < A; ++j)
      out_.data()[static_cast<std::size_t>(b) * A + j] = std::clamp(a0[j], -1.f, 1.f);
  }
  return v_.out;
}

}  // namespace lucid::planners
