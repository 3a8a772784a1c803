// Dream-MPC planner (see dream_mpc.h for the algorithm, the official-code details it keeps and
// the memory contract).
#include "lucid/planners/dream_mpc.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "lucid/engine/profile.h"
#include "lucid/error.h"
#include "lucid/planners/action_ascent.h"

namespace lucid::planners {

DreamMpc::DreamMpc(const PlannerConfig& config) : cfg_(config) {
  LUCID_CHECK_AS(cfg_.horizon >= 1 && cfg_.iterations >= 1 && cfg_.num_pi_trajs >= 1, ConfigError)
      << "dream-mpc: horizon, iterations and num_pi_trajs must be >= 1";
  LUCID_CHECK_AS(cfg_.action_reusage_coefficient >= 0.f && cfg_.action_reusage_coefficient <= 1.f,
                 ConfigError)
      << "dream-mpc: action_reusage_coefficient must be in [0, 1], got " << cfg_.action_reusage_coefficient;
  LUCID_CHECK_AS(cfg_.grad_clip_norm > 0.f, ConfigError) << "dream-mpc: grad_clip_norm must be positive";
}

int DreamMpc::iterations() const { return cfg_.iterations + (cfg_.action_dim >= 20 ? 2 : 0); }

void DreamMpc::allocate(int max_batch) {
  LUCID_CHECK_AS(max_batch > 0 && cfg_.action_dim > 0 && cfg_.latent_dim > 0, ConfigError)
      << "dream-mpc: max_batch, action_dim and latent_dim must be positive";
  max_batch_ = max_batch;
  const int H = cfg_.horizon, A = cfg_.action_dim, L = cfg_.latent_dim, N = cfg_.num_pi_trajs;
  const std::int64_t rows = static_cast<std::int64_t>(max_batch) * N;
  z0_ = Tensor::zeros(Shape{max_batch, L});
  z_rows_ = Tensor::zeros(Shape{rows, L});
  out_ = Tensor::zeros(Shape{max_batch, A});
  const std::size_t n_act = static_cast<std::size_t>(H) * rows * A;
  actions_.assign(n_act, 0.f);
  grad_buf_.assign(n_act, 0.f);
  stored_.assign(n_act, 0.f);
  init_.assign(n_act, 0.f);
  prior_.assign(n_act, 0.f);
  prior_eps_.assign(n_act, 0.f);
  value_.assign(rows, 0.f);
  term_eps_.assign(static_cast<std::size_t>(rows) * A, 0.f);
  grad_model_ = nullptr;
  grad_.reset();
  dev_ = DeviceState{};
  view_batch_ = -1;
  warm_ = false;
}

void DreamMpc::reset() { warm_ = false; }

models::RolloutObjective DreamMpc::objective() const {
  models::RolloutObjective obj;
  obj.horizon = cfg_.horizon;
  obj.discount = cfg_.discount;
  obj.terminal_value = true;
  obj.uncertainty_coef = cfg_.regularization_coefficient;
  return obj;
}

void DreamMpc::make_views(int batch) {
  if (batch == view_batch_) return;
  const std::int64_t rows = static_cast<std::int64_t>(batch) * cfg_.num_pi_trajs;
  v_.z0 = z0_.view_rows(0, batch);
  v_.z_rows = z_rows_.view_rows(0, rows);
  v_.out = out_.view_rows(0, batch);
  view_batch_ = batch;
}

Tensor DreamMpc::plan(const models::WorldModel& model, const Tensor& obs, Rng& rng, bool /*eval*/) {
  // eval changes nothing: the official planner adds no exploration noise in either mode; its
  // stochasticity is the sampled policy prior.
  LUCID_CHECK(max_batch_ > 0) << "dream-mpc: call allocate() before plan()";
  const std::int64_t batch64 = obs.shape().rows();
  LUCID_CHECK_SHAPE(batch64 >= 1 && batch64 <= max_batch_)
      << "dream-mpc: batch " << batch64 << " outside [1, " << max_batch_ << "]";
  LUCID_CHECK_SHAPE(model.action_dim() == cfg_.action_dim && model.latent_dim() == cfg_.latent_dim)
      << "dream-mpc: configured for action " << cfg_.action_dim << " / latent " << cfg_.latent_dim
      << ", model has " << model.action_dim() << " / " << model.latent_dim();
  if (obs.device() == Device::kCuda) return plan_cuda(model, obs, rng);
  const int B = static_cast<int>(batch64);
  const int H = cfg_.horizon, A = cfg_.action_dim, L = cfg_.latent_dim, N = cfg_.num_pi_trajs;
  const int rows = B * N;
  const std::size_t step = static_cast<std::size_t>(rows) * A;  // floats per horizon step
  if (B != view_batch_) warm_ = false;  // stored candidates belong to another batch layout
  make_views(B);
  if (grad_model_ != &model) {
    grad_ = models::make_action_gradient(model);
    grad_->reserve(max_batch_ * N, H);
    grad_model_ = &model;
  }

  // (a) z0 for every candidate row; the policy prior rolled out through the dynamics.
  std::optional<ProfileRange> prior_range(std::in_place, "plan/prior_rollout");
  model.encode_into(obs, v_.z0);
  for (int r = 0; r < rows; ++r)
    std::memcpy(v_.z_rows.data() + static_cast<std::size_t>(r) * L,
                v_.z0.data() + static_cast<std::size_t>(r / N) * L, sizeof(float) * L);
  for (int t = 0; t < H; ++t) rng.normal(prior_eps_.data() + t * step, step);
  grad_->policy_rollout(v_.z_rows.data(), prior_eps_.data(), rows, H, prior_.data());

  // (b) amortised start, Eq. (3): rho * (previous candidates shifted, last duplicated) + (1 - rho) * prior.
  const float rho = cfg_.action_reusage_coefficient;
  for (int t = 0; t < H; ++t) {
    const float* pr = prior_.data() + t * step;
    float* a = actions_.data() + t * step;
    if (!warm_) {
      std::memcpy(a, pr, sizeof(float) * step);
      continue;
    }
    const float* prev = stored_.data() + std::min(t + 1, H - 1) * step;
    for (std::size_t i = 0; i < step; ++i) a[i] = rho * prev[i] + (1.f - rho) * pr[i];
  }
  std::copy(actions_.begin(), actions_.begin() + static_cast<std::ptrdiff_t>(H * step), init_.begin());
  prior_range.reset();

  // (c) SGD on -J; J of the last evaluation (before the last step) selects.
  models::RolloutObjective obj = objective();
  obj.terminal_eps = term_eps_.data();
  const int iters = iterations();
  for (int it = 0; it < iters; ++it) {
    const ProfileRange range("plan/iteration");
    int heads[2];
    const int n_heads = pick_two_heads(model.num_values(), rng, heads);
    obj.heads = std::span<const int>(heads, n_heads);
    for (int b = 0; b < B; ++b) {
      float* e = term_eps_.data() + static_cast<std::size_t>(b) * N * A;
      rng.normal(e, A);
      for (int n = 1; n < N; ++n) std::memcpy(e + static_cast<std::size_t>(n) * A, e, sizeof(float) * A);
    }
    grad_->evaluate(v_.z_rows.data(), actions_.data(), rows, obj, value_.data(), grad_buf_.data());
    clip_grad_norm_per_obs(grad_buf_.data(), H, B, N, A, cfg_.grad_clip_norm);
    ascend(actions_.data(), grad_buf_.data(), static_cast<long long>(H) * step, cfg_.mpc_lr);
  }

  // (d) output and storage, clamped.
  const ProfileRange range("plan/select");
  for (int b = 0; b < B; ++b) {
    const int k = best_candidate(value_.data(), b, N);
    const float* a0 = actions_.data() + (static_cast<std::size_t>(b) * N + k) * A;
    for (int j = 0; j < A; ++j)
      v_.out.data()[static_cast<std::size_t>(b) * A + j] = std::clamp(a0[j], -1.f, 1.f);
  }
  for (std::size_t i = 0; i < H * step; ++i) stored_[i] = std::clamp(actions_[i], -1.f, 1.f);
  warm_ = true;
  return v_.out;
}

}  // namespace lucid::planners
