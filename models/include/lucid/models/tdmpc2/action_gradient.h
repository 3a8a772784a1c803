// The fused TD-MPC2 action gradient: one batched forward rollout and one input-only backward pass
// for all candidate sequences (models/action_gradient.h states the objective and contracts).
//
// Why its own layer loops instead of mlp_forward / mlp_backward: the planner's batch is a handful
// of rows (Dream-MPC: 5), where the cost is streaming the weights, not arithmetic. Here every
// GEMM reads the weights in the pre-packed small-batch layout (kernels/gemm_small.h): the forward
// as x W^T through the engine's micro-kernel, the backward dh W from the very same panels (one
// packed copy per weight); no parameter gradient is ever formed; and the ensemble
// uncertainty of all H + 1 latents is one (H + 1) * rows batch per head, whose last rows
// ([z_H | pi(z_H)]) double as the terminal value's forward, so those heads are not run twice.
// The layer math is the shared kernels' (kernels::layernorm_forward_cpu with Mish fused, SimNorm
// as kernels::softmax_forward_cpu over simnorm_dim-wide rows, and their backward), as in mlp.cc;
// tests/planners_grad compares the gradient with the engine's tape.
//
// Multitask models plan for their current task (Tdmpc2Model::set_task): every input row carries
// that task's embedding and the actions are read through its action mask.
//
// Packed weights are looked up per call in the kernels' pack cache under the model's
// weights_version(), which the agent bumps after every optimizer step and target EMA, so training
// and planning can interleave.
#pragma once

#include <cstdint>
#include <vector>

#include "lucid/models/action_gradient.h"
#include "lucid/models/tdmpc2/model.h"

namespace lucid::models::tdmpc2 {

class Tdmpc2ActionGradient final : public ActionGradient {
 public:
  explicit Tdmpc2ActionGradient(const Tdmpc2Model& model);
  void reserve(int rows, int horizon) override;
  void evaluate(const float* z0, const float* actions, int rows, const RolloutObjective& objective,
                float* value, float* grad) override;
  void policy_rollout(const float* z0, const float* eps, int rows, int horizon, float* actions) override;
  std::uint64_t gemm_flops() const override { return flops_; }

 private:
  // a = tanh(mu + eps exp(log_std(raw))) from the policy head's output (rows, 2A); eps may be null.
  // eps_std (rows, A), when not null, receives eps * std for the backward.
  void policy_actions(const float* out, const float* eps, int rows, float* a, int lda, float* eps_std) const;
  // What one MLP forward saved for its input-only backward.
  struct NetCache {
    const float* x = nullptr;  // the input rows (owned by the caller, alive until backward)
    int rows = 0;
    // Per layer, what the shared kernels' backward reads: the LayerNorm input h (rows x out, norm
    // layers), its mean and rstd (rows), and the output y (rows x out; SimNorm's backward reads it).
    std::vector<std::vector<float>> h, mean, rstd, y;
  };
  void reserve_net(const Mlp& mlp, int rows, NetCache& cache);
  void forward(const Mlp& mlp, const float* params, const float* x, int rows, NetCache& cache);
  // Backward through the saved rows [row0, row0 + rows) of cache. dy: rows x out (read); dx: rows x in (=).
  void backward_input(const Mlp& mlp, const float* params, const NetCache& cache, int row0, int rows,
                      const float* dy, float* dx);

  const Tdmpc2Model& model_;
  int max_rows_ = 0, max_horizon_ = 0;
  std::uint64_t flops_ = 0;
  std::vector<std::vector<float>> za_;             // per step: [z_t | a_t], rows x (L + A); za_[H] terminal
  std::vector<NetCache> dyn_, rew_;                // per step
  NetCache pi_;                                    // terminal policy
  std::vector<float> pi_in_;                       // multitask: the policy's input [z | e], rows x (L + TD)
  std::vector<NetCache> q_;                        // terminal value, one per head
  std::vector<NetCache> unc_;                      // per head: the ensemble pass over (H + 1) * rows
  std::vector<float> unc_in_, unc_vals_;           // (H + 1) rows x (L + A); num_q x (H + 1) rows
  std::vector<float> decode_, dlogits_, g_scale_;  // rows; rows x max(bins, 2A); rows
  std::vector<float> disc_;                        // gamma^t per step of the last forward
  std::vector<float> dza_a_, dza_b_, dz_, da_term_, eps_std_;
  std::vector<float> ping_, pong_;  // backward scratch, rows x max width
  std::vector<float> simnorm_u_;  // LayerNorm output of a SimNorm layer before its softmax (forward scratch)
};

}  // namespace lucid::models::tdmpc2
