// Tdmpc2UpdateCuda: TD-MPC2's whole update step (Tdmpc2Agent::update_batch) on the CUDA device —
// TD targets, the world-model losses and backward, clip + Adam, the policy loss with its running
// scale and backward, clip + Adam, the target-Q EMA — on device copies of the parameter arena, its
// gradients, the target Q block and both optimizers' moments.
//
// Same arithmetic as the CPU agent, launch by launch: the MLPs through mlp_train_cuda.h, the
// losses through the shared soft cross-entropy kernels and kernels/cuda/tdmpc2_update.cu (whose
// scalar sums run in the CPU's order), clipping and Adam through kernels/cuda/optim.cu's
// device-step variants.
// The batch and the update's random draws (UpdateNoise: TD and policy noise, dropout masks, head
// pairs) come from the host as for the CPU agent, so both paths can be fed the same update;
// tests/cuda_emu/agents compares them (losses, norms and every parameter after two updates).
//
// CUDA graph: everything between the uploads (batch, noise, the four drawn head indices) and the
// download of the info scalars is device work with fixed addresses — the drawn heads' weights are
// copied into fixed buffers by a kernel that reads the indices on the device, Adam's step counts
// and bias corrections live on the device, and a non-finite gradient norm skips the step there
// (as the CPU agent skips it). The first update runs uncaptured, the second is captured, every
// later one is ONE graph launch. Single-task only.
// Memory contract: every device buffer is sized in the constructor; update_batch allocates
// nothing on the device. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "lucid/agents/tdmpc2_agent.h"
#include "lucid/engine/cuda_launchers.h"
#include "lucid/engine/tensor.h"
#include "lucid/kernels/cuda/optim.h"
#include "lucid/models/tdmpc2/mlp_train_cuda.h"

namespace lucid::agents {

class Tdmpc2UpdateCuda {
 public:
  // Device copies of the agent's parameters and target Q, with fresh optimizer state and the
  // running scale at 1: the state of a new Tdmpc2Agent. Needs a registered CUDA backend.
  explicit Tdmpc2UpdateCuda(Tdmpc2Agent& agent);

  UpdateInfo update_batch(const Batch& batch, const UpdateNoise& noise);

  // CUDA graphs for the update (default on); off: every launch issued directly.
  void set_cuda_graphs(bool on) { use_graph_ = on; }

  std::vector<float> params() const { return params_.to_vector(); }
  std::vector<float> target_q() const { return target_.to_vector(); }
  float pi_scale() const;

 private:
  // The update's device work, between the uploads and the scalars' download (what the graph holds).
  void run();
  // The world-model losses' gradients into grads_ (=), sums into scalars_; the TD targets are
  // td_ and next_z the target encoder's output, from update_batch.
  void model_loss_backward();
  // The policy loss's gradients into pi's block of grads_ (+=), its sums and the scale into scalars_.
  void pi_loss_backward();
  const float* block(const models::tdmpc2::Mlp& m) const { return params_.data() + m.begin(); }
  float* grad_block(const models::tdmpc2::Mlp& m) const { return grads_.data() + m.begin(); }

  Tdmpc2AgentConfig cfg_;
  models::tdmpc2::Tdmpc2Config mc_;
  models::tdmpc2::Tdmpc2Layout lay_;
  float discount_ = 0.99f;
  Tensor params_, grads_, target_;  // the arena, its gradients, the target Q block (device)
  Tensor exp_avg_, exp_avg_sq_;     // both optimizers' moments (their ranges are disjoint)
  Tensor steps_, sumsq_;            // two int64 step counts; one double (as floats)
  kernels::AdamGroups model_groups_, pi_groups_;
  // [scale, consistency, reward, value, pi_loss, entropy sum, grad_norm, pi_grad_norm]
  Tensor scalars_;
  Tensor heads_;                    // the drawn heads as floats: td a, td b, pi a, pi b
  Tensor sel_target_, sel_online_;  // 2 x one head's block: the drawn target / online Q heads
  std::int64_t head_size_ = 0;
  CudaGraphSlot graph_;
  bool use_graph_ = true;
  Tensor obs_, act_, rew_;  // the batch: (H + 1) B x O, H B x A, H B
  Tensor td_eps_, pi_eps_, q_masks_, pi_q_masks_;
  Tensor td_action_, td_q_a_, td_q_b_, td_;  // targets (next_z is target_enc_cache_'s output)
  Tensor zs_, dz_, dx_, dlogits_, ce_, lse_, gloss_rew_, gloss_val_, row_se_;
  Tensor pi_action_, q_a_, q_b_, q_sum_, g_q_, da_, stash_, dpi_out_, row_loss_, row_entropy_;
  models::tdmpc2::MlpCacheCuda enc_cache_, target_enc_cache_, target_pi_cache_, rew_cache_, pi_cache_;
  std::vector<models::tdmpc2::MlpCacheCuda> dyn_caches_, q_caches_, target_q_caches_, pi_q_caches_;
};

}  // namespace lucid::agents
