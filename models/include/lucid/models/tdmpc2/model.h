// The TD-MPC2 world model (facts/tdmpc2.md §1.2-1.4): encoder, latent dynamics, reward head,
// policy prior and an ensemble of Q heads, all in ONE parameter arena, plus the EMA target copy
// of the Q block.
//
// Arena order: encoder, dynamics, reward, Qs.0 .. Qs.{num_q-1}, pi, task_emb (multitask only).
// The Q heads are contiguous, so the target copy, the EMA and the "Q" optimizer group are one
// range. Shapes: z (B, latent_dim), a (B, action_dim); reward and Q heads output num_bins logits
// over symlog space (two-hot regression); pi outputs (mean, raw log_std) of 2 * action_dim.
//
// Multitask (num_tasks > 1, facts §1.2-1.3): a task embedding (num_tasks, task_dim) joins every
// network's input in the official order: encoder [obs | e], pi [z | e], dynamics / reward / Q
// [z | e | a]. The embedding is nn.Embedding(max_norm=1): a looked-up row whose L2 norm exceeds 1
// is used scaled by 1 / (norm + 1e-7); set_task() and the update also write that back in place,
// as torch's lookup does. Per-task action masks (1 on the task's first action_dims, 0 after) zero
// the policy's mean, log_std and noise on padded dims (so its action there is tanh(0) = 0), and
// the model zeroes padded dims of every action it reads, which is what the official planner does
// to its samples: planners stay task-agnostic, the model holds the task (set_task). The update
// passes per-row task ids to the raw forms instead. Single-task models read exactly as before.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lucid/models/tdmpc2/mlp.h"
#include "lucid/models/thread_scratch.h"
#include "lucid/models/world_model.h"

namespace lucid {
class Rng;
}

namespace lucid::models::tdmpc2 {

class Tdmpc2Cuda;  // model_cuda.h

struct Tdmpc2Config {
  int obs_dim = 0;
  int action_dim = 0;
  int model_size = 5;  // the preset this was built from (informational)
  int enc_dim = 256;
  int mlp_dim = 512;
  int latent_dim = 512;
  int num_enc_layers = 2;
  int num_q = 5;
  int simnorm_dim = 8;
  float dropout = 0.01f;
  int num_bins = 101;
  float vmin = -10.f, vmax = 10.f;
  float log_std_min = -10.f, log_std_max = 2.f;
  int num_tasks = 1;                  // > 1: multitask
  int task_dim = 0;                   // 0 single-task
  std::vector<int> task_action_dims;  // multitask: valid action dims per task (the action masks)

  bool multitask() const { return num_tasks > 1; }
  // Valid action dims of a task (action_dim when single-task).
  int task_action_dim(int task) const { return multitask() ? task_action_dims.at(task) : action_dim; }
  float bin_size() const { return (vmax - vmin) / static_cast<float>(num_bins - 1); }
};

// Presets 1, 5, 19, 48, 317 (facts §1.2; task_dim per parser.py). Throws ConfigError otherwise.
Tdmpc2Config tdmpc2_preset(int model_size, int obs_dim, int action_dim, int num_tasks = 1);

// Widths that replace a preset's (0 keeps the preset's value): small models for tests and quick
// experiments. An overridden model no longer has the official parameter count.
struct ArchitectureOverrides {
  int enc_dim = 0, mlp_dim = 0, latent_dim = 0, num_q = 0;
};
// Applies o to c; ConfigError for negative widths, num_q < 2 (TD targets take two heads) or a
// latent_dim that is not a multiple of simnorm_dim.
void apply_overrides(Tdmpc2Config& c, const ArchitectureOverrides& o);

// The parameter layout of a config, without allocating it (param counts of the big presets).
struct Tdmpc2Layout {
  ParamLayout layout;
  Mlp encoder, dynamics, reward, pi;
  std::vector<Mlp> q;
  std::size_t task_emb = 0;  // offset of the task embedding (multitask)
  std::size_t q_begin() const { return q.front().begin(); }
  std::size_t q_end() const { return q.back().end(); }
};
Tdmpc2Layout tdmpc2_layout(const Tdmpc2Config& cfg);

class Tdmpc2Model final : public WorldModel {
 public:
  // Builds the layout and allocates params, grads and the target-Q copy (zeros until init()).
  explicit Tdmpc2Model(const Tdmpc2Config& cfg);

  // Official initialisation (common/init.py): Linear weights trunc_normal(std 0.02), biases 0,
  // LayerNorm (1, 0), embedding U(-0.02, 0.02), last layers of reward and every Q head zeroed;
  // the target Q copy equals the online Q heads.
  void init(Rng& rng);

  const Tdmpc2Config& config() const { return cfg_; }

  // ---- multitask ----
  // The task of every later query that is not given per-row task ids (planning). Renormalises that
  // embedding row in place as torch's max_norm lookup does. Single-task models accept only 0.
  void set_task(int task);
  int task() const { return task_; }
  // Renormalises embedding rows in place (torch.embedding_renorm_, max_norm 1): what the update
  // does before its lookups. Duplicates are fine; a no-op for single-task models.
  void renorm_task_embeddings(std::span<const int> tasks);
  // The embedding row of `task` as a lookup returns it (renormalised if its norm exceeds 1): task_dim values.
  void task_embedding(int task, float* out) const;
  // 1 on the task's valid action dims, 0 on padded ones: action_dim values (all ones single-task).
  const float* action_mask(int task) const {
    return action_masks_.data() + static_cast<std::size_t>(task) * cfg_.action_dim;
  }
  // A network's input rows [x | e(task_r) | mask(task_r) * a] into dst (rows x (xw + task_dim + A));
  // a may be nullptr (encoder, pi). tasks: per-row task ids, or nullptr for task(). Single-task:
  // exactly [x | a].
  void input_rows(const float* x, int xw, const float* a, const int* tasks, int rows, float* dst) const;

  // Weights version: changes whenever params or target_q change, and keys the packed-weight cache
  // of the small-batch GEMM (kernels/gemm_small.h) that planning-size forwards read. Whoever writes
  // the weights (optimizer step, target EMA, load, a test) calls bump_weights_version() after
  // writing, before the next forward. Versions come from one process-wide counter, so a new model
  // whose arena reuses a freed one's address never meets that model's packed panels.
  std::uint64_t weights_version() const { return weights_version_; }
  void bump_weights_version();
  const Tdmpc2Layout& layout() const { return layout_; }
  // The writable views bump the weights version on the way out (taking one is taken as a write);
  // a writer that keeps the span across a forward still calls bump_weights_version() after writing.
  std::span<float> params() {
    bump_weights_version();
    return params_;
  }
  std::span<const float> params() const { return params_; }
  std::span<float> grads() { return grads_; }
  std::span<float> target_q() {  // mirrors params[q_begin, q_end)
    bump_weights_version();
    return target_q_;
  }
  std::span<const float> target_q() const { return target_q_; }
  const float* block(const Mlp& m) const { return params_.data() + m.begin(); }
  float* grad_block(const Mlp& m) { return grads_.data() + m.begin(); }
  const float* target_block(int head) const {
    return target_q_.data() + (layout_.q[head].begin() - layout_.q_begin());
  }

  // ---- WorldModel ----
  int observation_dim() const override { return cfg_.obs_dim; }
  int action_dim() const override { return cfg_.action_dim; }
  int latent_dim() const override { return cfg_.latent_dim; }
  int num_values() const override { return cfg_.num_q; }
  bool value_uses_action() const override { return true; }
  bool concurrent_queries() const override { return true; }
  void encode_into(const Tensor& obs, const Tensor& z) const override;
  void next_into(const Tensor& z, const Tensor& a, const Tensor& z_next) const override;
  void reward_into(const Tensor& z, const Tensor& a, const Tensor& r) const override;
  void step_from_shared_into(const Tensor& z_shared, const Tensor& z, const Tensor& a, const Tensor& r,
                             const Tensor& z_next) const override;
  void value_into(const Tensor& z, const Tensor& a, std::span<const int> heads,
                  const Tensor& v) const override;
  void value_ensemble_into(const Tensor& z, const Tensor& a, const Tensor& vs) const override;
  void policy_into(const Tensor& z, const Tensor& mean, const Tensor& log_std) const override;
  void policy_action_into(const Tensor& z, const Tensor& eps, const Tensor& action) const override;

  // ---- raw-pointer forms used by MPPI and the update (rows x width, row-major) ----
  // tasks: per-row task ids (multitask update batches), or nullptr for task().
  void encode_raw(const float* obs, int rows, float* z, const int* tasks = nullptr) const;
  void next_raw(const float* z, const float* a, int rows, float* z_next, const int* tasks = nullptr) const;
  void reward_raw(const float* z, const float* a, int rows, float* r, const int* tasks = nullptr) const;
  // Mean over `heads` of the decoded Q values; use_target picks the EMA copy.
  void q_raw(const float* z, const float* a, int rows, std::span<const int> heads, bool use_target, float* v,
             const int* tasks = nullptr) const;
  // Policy action: tanh(mask * (mean + eps * std)) (eps nullptr: tanh(mask * mean)).
  void pi_action_raw(const float* z, const float* eps, int rows, float* action,
                     const int* tasks = nullptr) const;
  // The squash of pi_action_raw on policy outputs pi_out (rows x 2A: mean | log_std pre-squash),
  // for callers that run the policy's Mlp themselves (the agent's update, in blocks of rows).
  void pi_action_from_output(const float* pi_out, const float* eps, int rows, float* action,
                             const int* tasks = nullptr) const;

  // The device twin (model_cuda.h) that the *_into queries use when their tensors are on
  // Device::kCuda: made on first use, weights re-uploaded whenever weights_version() moved.
  Tdmpc2Cuda& cuda_twin() const;

 private:
  // One query's scratch (eval mode, no dropout): the MLP caches, grown to the largest batch this
  // thread has asked for, then reused.
  struct Scratch {
    MlpCache enc, dyn, rew, pi, q;
    std::vector<float> decode;
    std::vector<float> shared, masked_a;  // multitask step_from_shared: [z | e] and the masked actions
  };
  int task_or_current(const int* tasks, int r) const { return tasks ? tasks[r] : task_; }
  // The calling thread's scratch (thread_scratch.h), grown to `rows`.
  Scratch& scratch(int rows) const;

  Tdmpc2Config cfg_;
  Tdmpc2Layout layout_;
  std::vector<float> params_, grads_, target_q_;
  std::vector<float> action_masks_;  // (num_tasks, action_dim)
  int task_ = 0;
  std::uint64_t weights_version_ = 0;
  ThreadScratch<Scratch> scratch_;
  mutable std::shared_ptr<Tdmpc2Cuda> cuda_;  // shared_ptr: the type is incomplete here
};

// ---- shared math of the heads (facts §1.4), used by the model and the update ----
// symexp(sum softmax(logits) * bins) per row: logits (rows, bins) -> out (rows).
void two_hot_inv_rows(const float* logits, int rows, const Tdmpc2Config& cfg, float* out);
// d out / d logits for two_hot_inv, scaled by g per row: dlogits (rows, bins) (=).
void two_hot_inv_backward_rows(const float* logits, const float* g, int rows, const Tdmpc2Config& cfg,
                               float* dlogits);

}  // namespace lucid::models::tdmpc2
