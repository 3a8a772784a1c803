// Tdmpc2Cuda: the device twin of a Tdmpc2Model's inference — a device copy of the parameter
// arena and of the target Q block, and the WorldModel queries on CUDA buffers.
//
// Tdmpc2Model's *_into queries dispatch here when their tensors are on Device::kCuda (one twin
// per model, made on the first such query). Before each query sync() compares the model's
// weights_version() with the one last uploaded and re-uploads params and target Q when they
// differ, so an optimizer step, an EMA or a load is seen by the next device query at the cost
// of one host-to-device copy of the arena.
//
// Per query, after the MLPs of mlp_cuda.h: reward = one q_head_decode launch (bias + 101-bin
// softmax decode + symexp) of one member; Q of heads {a, b} = their MLPs into a num_q x rows x bins
// logits buffer, then ONE q_head_decode launch that adds every head's output bias (a device stack
// of the num_q output biases, made at upload), decodes heads a and b and averages them (a single
// head is averaged with itself: exact); the policy = one policy_squash launch (bias, log_std
// squash, tanh action with eps). Value queries over other head sets than 1, 2 or all heads are
// not supported on the device (MPPI, the agents and the losses use those) and say so.
//
// Memory contract: every pointer argument is a device pointer to a row-major buffer (rows x
// width); outputs are written with `=`. Scratch grows to the largest batch seen and is reused.
// CUDA graphs: weights are re-uploaded in place (fixed device addresses) and outgrown scratch is
// retired, never freed, while the twin lives, so a graph that captured queries (MPPI's) stays
// valid across weight updates and later, larger batches. A query never uploads while a graph is
// being captured as long as the caller made one query after its last weight write (an upload is
// a host copy, which capture forbids).
// Not thread-safe: device queries come from one host thread (lucid has one compute stream).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <vector>

#include "lucid/engine/tensor.h"
#include "lucid/models/tdmpc2/mlp_cuda.h"
#include "lucid/models/tdmpc2/model.h"

namespace lucid::models::tdmpc2 {

// True when every tensor of a query is on Device::kCuda, false when all are on the CPU; a mix
// throws lucid::Error naming the query (a device pointer must never reach host code).
bool on_cuda(std::initializer_list<std::reference_wrapper<const Tensor>> tensors, const char* query);

class Tdmpc2Cuda {
 public:
  // Needs a registered CUDA backend (use_cuda_device()); uploads the model's weights.
  explicit Tdmpc2Cuda(const Tdmpc2Model& model);

  // Re-uploads params and target Q when model.weights_version() moved since the last upload.
  void sync(const Tdmpc2Model& model);
  std::uint64_t uploaded_version() const { return version_; }
  // The device copy of the parameter arena (fixed address for the twin's lifetime).
  const float* params() const { return params_.data(); }

  void encode(const float* obs, int rows, float* z);
  void next(const float* z, const float* a, int rows, float* z_next);
  void reward(const float* z, const float* a, int rows, float* r);
  // Reward and next latent of rows that all start from the one latent z_shared (1 x L).
  void step_from_shared(const float* z_shared, const float* a, int rows, float* r, float* z_next);
  // Mean of the decoded Q values over `heads` (1 or 2 heads, or empty for all); use_target picks
  // the EMA copy. v: rows.
  void q(const float* z, const float* a, int rows, std::span<const int> heads, bool use_target, float* v);
  // Every head's decoded Q value: vs (num_q, rows).
  void q_ensemble(const float* z, const float* a, int rows, float* vs);
  // Policy prior: any of mean, log_std, action (rows x A) may be null; eps null: action = tanh(mean).
  void pi(const float* z, const float* eps, int rows, float* mean, float* log_std, float* action);

 private:
  void reserve(int rows);
  const float* block(const Mlp& m) const { return params_.data() + m.begin(); }
  // The Q heads' MLPs into logits_ slots and one decode launch writing v (and values when given).
  void q_heads(const float* z, const float* a, int rows, int head_a, int head_b, bool all, bool use_target,
               float* values, float* v);

  Tdmpc2Config cfg_;
  Tdmpc2Layout layout_;
  std::uint64_t version_ = 0;
  Tensor params_, target_q_;               // device copies of the arena and the target Q block
  Tensor q_out_bias_, target_q_out_bias_;  // (num_q, bins): each head's output bias, stacked
  MlpScratchCuda mlp_;
  Tensor logits_;                // (num_q, rows, bins): plain output layers before their epilogue
  Tensor pi_raw_;                // (rows, 2A)
  Tensor v_;                     // (rows): the combined output q_ensemble does not need
  std::vector<Tensor> retired_;  // outgrown scratch, never freed (see the file comment)
  int rows_ = 0;
};

}  // namespace lucid::models::tdmpc2
