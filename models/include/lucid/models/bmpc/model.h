// The BMPC world model (facts/tdmpc2.md §2): TD-MPC2's encoder, latent dynamics, reward head and
// policy prior, with an ensemble of V(z) heads in place of the Q(z, a) heads, and BMPC's policy
// parameterisation. One parameter arena; the V heads are contiguous so their EMA target copy, the
// EMA and the optimizer group are each one range.
//
// Arena order: encoder, dynamics, reward, Vs.0 .. Vs.{num_q-1}, pi. Shapes: z (B, latent_dim),
// a (B, action_dim); reward and V heads output num_bins logits over symlog space (two-hot
// regression, facts §1.4); V heads read the latent only (input latent_dim); pi outputs
// (mu, raw log_std) of 2 * action_dim.
//
// Policy (bmpc world_model.py): mean = tanh(mu), log_std = log_std_min + (max - min)(tanh(x) + 1)/2
// with [log_std_min, log_std_max] = [-3, 1], action = clamp(mean + eps * exp(log_std), -1, 1) — a
// Gaussian around a squashed mean, not a squashed Gaussian, so the KL to the planner's Gaussian has
// a closed form. policy_into reports that Gaussian: mean = tanh(mu) and its log_std.
//
// The MLP blocks, their layouts, forward/backward and the two-hot decode are TD-MPC2's
// (models/tdmpc2/mlp.h, model.h); the config type is TD-MPC2's too, with num_q counting V heads.
// Single-task only.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "lucid/models/action_gradient.h"
#include "lucid/models/tdmpc2/mlp.h"
#include "lucid/models/tdmpc2/model.h"
#include "lucid/models/thread_scratch.h"
#include "lucid/models/world_model.h"

namespace lucid {
class Rng;
}

namespace lucid::models::bmpc {

using BmpcConfig = tdmpc2::Tdmpc2Config;

// TD-MPC2's size presets (1, 5, 19, 48, 317) with BMPC's changes: 2 V heads at every size and
// log_std in [-3, 1]. Throws ConfigError for other sizes or multitask.
BmpcConfig bmpc_preset(int model_size, int obs_dim, int action_dim);

struct BmpcLayout {
  tdmpc2::ParamLayout layout;
  tdmpc2::Mlp encoder, dynamics, reward, pi;
  std::vector<tdmpc2::Mlp> v;
  std::size_t v_begin() const { return v.front().begin(); }
  std::size_t v_end() const { return v.back().end(); }
};
BmpcLayout bmpc_layout(const BmpcConfig& cfg);

class BmpcModel final : public WorldModel, public ActionGradientSource {
 public:
  // Builds the layout and allocates params, grads and the target-V copy (zeros until init()).
  explicit BmpcModel(const BmpcConfig& cfg);

  // TD-MPC2's initialisation (trunc_normal std 0.02 weights, zero biases, LayerNorm (1, 0)), last
  // layers of reward and every V head zeroed; the target V copy equals the online V heads.
  void init(Rng& rng);

  const BmpcConfig& config() const { return cfg_; }
  const BmpcLayout& layout() const { return layout_; }

  // Weights version (as Tdmpc2Model): keys the packed small-batch GEMM weights; whoever writes
  // params or target_v calls bump_weights_version() before the next forward. Taking a writable
  // view counts as a write.
  std::uint64_t weights_version() const { return weights_version_; }
  void bump_weights_version();
  std::span<float> params() {
    bump_weights_version();
    return params_;
  }
  std::span<const float> params() const { return params_; }
  std::span<float> grads() { return grads_; }
  std::span<float> target_v() {  // mirrors params[v_begin, v_end)
    bump_weights_version();
    return target_v_;
  }
  std::span<const float> target_v() const { return target_v_; }
  const float* block(const tdmpc2::Mlp& m) const { return params_.data() + m.begin(); }
  float* grad_block(const tdmpc2::Mlp& m) { return grads_.data() + m.begin(); }
  const float* target_block(int head) const {
    return target_v_.data() + (layout_.v[head].begin() - layout_.v_begin());
  }

  // ---- WorldModel ----
  int observation_dim() const override { return cfg_.obs_dim; }
  int action_dim() const override { return cfg_.action_dim; }
  int latent_dim() const override { return cfg_.latent_dim; }
  int num_values() const override { return cfg_.num_q; }
  bool value_uses_action() const override { return false; }
  bool concurrent_queries() const override { return true; }
  void encode_into(const Tensor& obs, const Tensor& z) const override;
  void next_into(const Tensor& z, const Tensor& a, const Tensor& z_next) const override;
  void reward_into(const Tensor& z, const Tensor& a, const Tensor& r) const override;
  // The latent's share of the reward's and the dynamics' first layers is computed once for all rows.
  void step_from_shared_into(const Tensor& z_shared, const Tensor& z, const Tensor& a, const Tensor& r,
                             const Tensor& z_next) const override;
  // `a` is ignored (V heads) and may be undefined.
  void value_into(const Tensor& z, const Tensor& a, std::span<const int> heads,
                  const Tensor& v) const override;
  void value_ensemble_into(const Tensor& z, const Tensor& a, const Tensor& vs) const override;
  void policy_into(const Tensor& z, const Tensor& mean, const Tensor& log_std) const override;
  void policy_action_into(const Tensor& z, const Tensor& eps, const Tensor& action) const override;

  // ---- ActionGradientSource: the differentiable rollout Dream-MPC plans through ----
  std::unique_ptr<ActionGradient> make_action_gradient() const override;

  // ---- raw-pointer forms (rows x width, row-major) ----
  void encode_raw(const float* obs, int rows, float* z) const;
  void next_raw(const float* z, const float* a, int rows, float* z_next) const;
  void reward_raw(const float* z, const float* a, int rows, float* r) const;
  // Mean over `heads` (empty: all) of the decoded V values; use_target picks the EMA copy.
  void v_raw(const float* z, int rows, std::span<const int> heads, bool use_target, float* v) const;
  // Gaussian of the policy: mean = tanh(mu), log_std in [log_std_min, log_std_max]; either output
  // may be nullptr.
  void pi_dist_raw(const float* z, int rows, float* mean, float* log_std) const;
  // clamp(tanh(mu) + eps * std, -1, 1) (eps nullptr: tanh(mu)).
  void pi_action_raw(const float* z, const float* eps, int rows, float* action) const;

 private:
  // One query's scratch (eval mode, no dropout): the MLP caches, grown to the largest batch this
  // thread has asked for, then reused.
  struct Scratch {
    tdmpc2::MlpCache enc, dyn, rew, pi, v;
    std::vector<float> decode;
  };
  // The calling thread's scratch (thread_scratch.h), grown to `rows`.
  Scratch& scratch(int rows) const;

  BmpcConfig cfg_;
  BmpcLayout layout_;
  std::vector<float> params_, grads_, target_v_;
  std::uint64_t weights_version_ = 0;
  ThreadScratch<Scratch> scratch_;
};

// The policy head's raw output row (mu, x) -> BMPC's (mean, log_std) for one action dim.
inline float bmpc_log_std(float x, const BmpcConfig& c) {
  return c.log_std_min + 0.5f * (c.log_std_max - c.log_std_min) * (std::tanh(x) + 1.f);
}

}  // namespace lucid::models::bmpc
