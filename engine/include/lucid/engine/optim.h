// Optimizers on flat parameter arenas: Adam with per-group learning-rate scales, global
// grad-norm clipping and EMA (lerp) of parameter sets.
//
// Everything here sees a model as one contiguous span of params and a span of grads with the same
// layout (the engine's parameter arena), so there is no dependency on nn types and a step is a
// handful of flat loops. A ParamGroup is a [offset, offset + size) range of that layout with its
// own lr multiplier (TD-MPC2 scales the encoder's lr by enc_lr_scale); elements covered by no
// group are frozen. Adam's moments mirror the arena's layout, so a checkpoint stores them as two
// more flat tensors (see checkpoint.h).
//
// Devices: the Tensor overloads run on the tensors' device. On CUDA, Adam is ONE launch over the
// whole arena (every group, kernels/cuda/optim.cu) with the moments kept on the device; the host
// copies stay authoritative for checkpoints — reading exp_avg()/exp_avg_sq() or stepping on the
// CPU pulls the device moments back first, and the next CUDA step uploads them again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "lucid/engine/tensor.h"

namespace lucid {

struct ParamGroup {
  std::size_t offset, size;
  float lr_scale = 1.f;
};

struct AdamOptions {
  float lr = 3e-4f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
};

// torch.optim.Adam semantics (bias-corrected; no weight decay, no amsgrad).
class Adam {
 public:
  // n: arena size. groups: disjoint ranges inside [0, n); empty means one group over everything.
  Adam(std::size_t n, std::vector<ParamGroup> groups, AdamOptions options = {});

  // One update of every group; params and grads must both hold n floats.
  void step(std::span<float> params, std::span<const float> grads);
  // The same update on 1-D tensors of size() floats on one device (a ParamArena's blocks).
  void step(const Tensor& params, const Tensor& grads);

  std::size_t size() const { return exp_avg_.size(); }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  const AdamOptions& options() const { return options_; }
  void set_lr(float lr) { options_.lr = lr; }  // for schedules; group scales still apply

  // State, mirroring the arena layout; mutable views so that a checkpoint can restore them.
  std::span<float> exp_avg() {
    pull_to_host();
    return exp_avg_;
  }
  std::span<float> exp_avg_sq() {
    pull_to_host();
    return exp_avg_sq_;
  }
  std::span<const float> exp_avg() const {
    pull_to_host();
    return exp_avg_;
  }
  std::span<const float> exp_avg_sq() const {
    pull_to_host();
    return exp_avg_sq_;
  }
  std::int64_t step_count() const { return step_count_; }
  void set_step_count(std::int64_t t);

 private:
  // Bias corrections 1 - beta^t of the current step (after ++step_count_), in double as torch.
  void bias_corrections(float* c1, float* c2) const;
  // Copies device moments (if any) back to the host vectors and drops them.
  void pull_to_host() const;

  std::vector<ParamGroup> groups_;
  AdamOptions options_;
  mutable std::vector<float> exp_avg_, exp_avg_sq_;
  mutable Tensor dev_exp_avg_, dev_exp_avg_sq_;  // defined while the moments live on CUDA
  std::int64_t step_count_ = 0;
};

// Scales grads in place so that their global L2 norm is at most max_norm (coefficient
// max_norm / (norm + 1e-6), as torch.nn.utils.clip_grad_norm_) and returns the norm before
// clipping. A non-finite norm is returned as is and grads are left untouched, so the caller can
// see it and skip the step instead of writing NaN into every parameter.
float clip_grad_norm(std::span<float> grads, float max_norm);
// The same on a tensor of either device; on CUDA the sum of squares and the scaling run on the
// device (one sync to return the norm).
float clip_grad_norm(const Tensor& grads, float max_norm);

// target = lerp(target, source, tau) element-wise; the spans must have the same size.
void ema_update(std::span<float> target, std::span<const float> source, float tau);
void ema_update(const Tensor& target, const Tensor& source, float tau);  // either device, same numel

}  // namespace lucid
