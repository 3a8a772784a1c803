// The fused TD-MPC2 action gradient on the CUDA device: the device twin of Tdmpc2ActionGradient
// (tdmpc2/action_gradient.h), same objective and same per-step caches, every step a launch on
// lucid's compute stream through the engine's launcher table (so this builds without CUDA).
//
// Per MLP layer, forward: one cuBLAS GEMM x W^T (no bias) and one fused bias + LayerNorm (+Mish)
// launch whose output, statistics and input are kept per step; a SimNorm layer adds its group
// softmax; a plain output layer is the GEMM alone, its bias added by the epilogue that follows
// (the reward and Q decodes, the policy squash). Input-only backward: the softmax backward
// (SimNorm), the LayerNorm(+Mish) backward into the GEMM output (no parameter gradients), one
// GEMM dh W. Inputs [z_t | a_t] are written once per step into a (rows, L + A) buffer by two
// strided copies, so each first layer is one GEMM and its backward yields dz and da together.
//
// Terminal value: the Q heads run as a loop over heads on the same rows ((H + 1) * rows with the
// uncertainty penalty on, whose last rows are [z_H | pi(z_H)]; rows otherwise), and the terminal
// mean weights head k by head_weights[k] read on the device when the kernels run
// (RolloutObjective::head_weights), so a captured CUDA graph replays with a fresh random head pair.
// The backward therefore runs every head, the ones not drawn with weight 0 (exact zeros): at a
// planner's handful of rows a head's backward is launch latency, not work.
//
// Differences from the CPU path: sums over heads run in head order, not in the drawn pair's
// order, and the GEMMs are cuBLAS's (or, under the emulator, gemm_cpu's) — the gradient agrees
// with the CPU's to float rounding, not bit for bit (tests/cuda_emu/planning).
//
// Memory contract: every pointer argument of evaluate / policy_rollout is a DEVICE pointer with
// the layout of models/action_gradient.h. reserve(rows, horizon) sizes every buffer on the device;
// after it nothing is allocated (a CUDA graph may capture evaluate). Weights are read from the
// model's device twin (model_cuda.h), synced on each call outside a capture. TD-MPC2 models only,
// single-task (the twin has no task embedding). Not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "lucid/engine/tensor.h"
#include "lucid/models/action_gradient.h"
#include "lucid/models/tdmpc2/model.h"

namespace lucid::models::tdmpc2 {

class Tdmpc2ActionGradientCuda final : public ActionGradient {
 public:
  explicit Tdmpc2ActionGradientCuda(const Tdmpc2Model& model);
  void reserve(int rows, int horizon) override;
  // Terminal heads: objective.head_weights (device, num_q) when set; else objective.heads, whose
  // weights are uploaded here (a host copy: not inside a graph capture).
  void evaluate(const float* z0, const float* actions, int rows, const RolloutObjective& objective,
                float* value, float* grad) override;
  void policy_rollout(const float* z0, const float* eps, int rows, int horizon, float* actions) override;
  std::uint64_t gemm_flops() const override { return flops_; }

 private:
  // What one MLP forward keeps for its input-only backward (device tensors, rows x width each).
  struct NetCache {
    std::vector<Tensor> h, mean, rstd, y;  // per layer: GEMM output (norm layers), statistics, output
    Tensor u;                              // SimNorm: the LayerNorm output before the group softmax
  };
  void reserve_net(const Mlp& mlp, int rows, NetCache& cache);
  void forward(const Mlp& mlp, const float* x, int rows, NetCache& cache);
  // Backward through the saved rows [row0, row0 + rows) of cache; dy rows x out, dx rows x in (=).
  void backward_input(const Mlp& mlp, const NetCache& cache, int row0, int rows, const float* dy, float* dx);
  const float* block(const Mlp& m) const;
  const float* out_bias(const Mlp& m) const;

  const Tdmpc2Model& model_;
  const float* params_ = nullptr;  // the twin's device arena, refreshed by each call's sync
  int max_rows_ = 0, max_horizon_ = 0;
  std::uint64_t flops_ = 0;
  std::vector<Tensor> za_;           // per step [z_t | a_t], rows x (L + A); za_[H] = [z_H | pi(z_H)]
  std::vector<NetCache> dyn_, rew_;  // per step
  NetCache pi_;                      // the policy (rollout steps and the terminal action)
  std::vector<NetCache> q_;          // per head, over the uncertainty batch (or the terminal rows)
  Tensor q_in_;                      // (H + 1) rows x (L + A): the uncertainty batch's input
  Tensor q_vals_;                    // num_q x (H + 1) rows: every head's decoded value
  Tensor decode_;                    // (H + 1) rows: decodes not read (the reward's, a combined Q)
  Tensor term_action_, head_w_;      // rows x A: pi(z_H); num_q: uploaded head weights
  Tensor dlogits_, dza_a_, dza_b_, dz_, da_term_;
  Tensor ping_, pong_, d_ln_, d_sm_;  // backward scratch, rows x max width
  std::vector<float> disc_;           // gamma^t of the last forward (host)
};

}  // namespace lucid::models::tdmpc2
