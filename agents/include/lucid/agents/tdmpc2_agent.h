// The TD-MPC2 agent: acting through a planner (MPPI, or the policy prior) and the official update
// (facts/tdmpc2.md §1.5).
//
// update() = one batch of (H+1, B) observations, (H, B) actions and rewards from the replay
// buffer, then:
//   1. no grad: next_z = enc(obs[1:]); td = r + gamma * min of 2 random target-Q heads at
//      (next_z, pi(next_z) sampled).
//   2. z_0 = enc(obs[0]), z_{t+1} = d(z_t, a_t); consistency, reward and value (all Q heads, with
//      dropout) losses weighted by rho^t, coefficients 20 / 0.1 / 0.1; clip 20; Adam (encoder x0.3).
//   3. policy on the detached latents: Q = mean of 2 random detached heads (updated weights, dropout
//      on) at (z, pi(z)), divided by the running 5-95 percentile scale, plus 1e-4 x the scaled
//      entropy (official quirk); clip 20; its own Adam (eps 1e-5).
//   4. target-Q EMA with tau 0.01.
// Each optimizer step and the EMA bump the model's weights version, so planning-size forwards
// repack the weights they read (Tdmpc2Model::weights_version).
// All random choices of one update (heads, policy noise, dropout masks) are drawn up front into an
// UpdateNoise, so a test can pass the same ones to a PyTorch reference.
//
// Multitask (num_tasks > 1, facts §1.2-1.5): every sub-trajectory of a batch carries a task id.
// Each network reads that task's embedding (models/tdmpc2/model.h), the TD target uses that task's
// discount (the discount heuristic of its episode length), and the policy's mean, log_std and noise
// are masked to the task's action dims, with the entropy scaled by that count. The embedding is in
// the model optimizer (lr x1) and gets gradients from every network that reads it. The policy
// loss reaches it too (through pi's and Q's inputs), and in the official code that gradient is
// cleared by neither optimizer (the policy optimizer owns only pi's parameters), so it is added to
// the next model update's gradient of the table: the agent keeps it across updates (and in its
// state) to do the same.
//
// Threads: the update runs independent work as whole jobs, one per core (kernels::parallel_jobs):
// the reward and Q heads of the model loss side by side, and the row-by-row chains (TD targets,
// latent rollout, the policy loss's forward) one block of rows per core. Each job has its own
// scratch and the sums across jobs are taken after them in a fixed order, so results do not
// depend on the schedule.
//
// Memory: every activation buffer is sized at construction for batch_size x (H+1) rows; an
// update allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lucid/agents/agent.h"
#include "lucid/agents/replay_buffer.h"
#include "lucid/agents/rho_soft_ce.h"
#include "lucid/engine/optim.h"
#include "lucid/engine/rng.h"
#include "lucid/models/tdmpc2/model.h"
#include "lucid/planners/planner.h"

namespace lucid::agents {

struct Tdmpc2AgentConfig {
  int obs_dim = 0;
  int action_dim = 0;
  int model_size = 5;
  models::tdmpc2::ArchitectureOverrides architecture;  // widths replacing the preset's (0: keep)
  int batch_size = 256;
  int horizon = 3;
  float rho = 0.5f;
  float lr = 3e-4f;
  float enc_lr_scale = 0.3f;
  float consistency_coef = 20.f;
  float reward_coef = 0.1f;
  float value_coef = 0.1f;
  float entropy_coef = 1e-4f;
  float grad_clip_norm = 20.f;
  float tau = 0.01f;
  int episode_length = 500;  // agent steps; sets the discount heuristically
  bool mpc = true;           // plan with MPPI; false: act with the policy prior
  // Multitask: tasks share obs_dim / action_dim (padded); per task its valid action dims and its
  // episode length (-> discount). Empty lists mean action_dim / episode_length for every task.
  int num_tasks = 1;
  std::vector<int> task_action_dims;
  std::vector<int> task_episode_lengths;
  std::uint64_t seed = 1;
  planners::PlannerConfig planner;  // action/latent dims, horizon and discount are filled in
};

// TD-MPC2's discount heuristic: frac = episode_length / 5, clip((frac - 1) / frac, 0.95, 0.995).
float tdmpc2_discount(int episode_length);

// The model optimizer's parameter groups: encoder at lr x enc_lr_scale; dynamics, reward and Q
// heads (contiguous) at lr; the task embedding (multitask) at lr.
std::vector<ParamGroup> tdmpc2_model_groups(const models::tdmpc2::Tdmpc2Model& m, float enc_lr_scale);

// RunningScale's target before clamping: P95 - P5 of values, each percentile interpolated linearly
// between sorted neighbours at position p (n - 1) / 100 (scale.py). Sorts values in place.
float percentile_spread(std::span<float> values);

struct UpdateNoise {
  int td_heads[2] = {0, 1};       // target-Q heads for the TD target (min)
  int pi_heads[2] = {0, 1};       // detached-Q heads for the policy loss (mean)
  std::vector<float> td_eps;      // (H * B, A) policy noise at next_z
  std::vector<float> pi_eps;      // ((H + 1) * B, A) policy noise at the detached latents
  std::vector<float> q_masks;     // (num_q, H * B, mlp_dim) dropout masks, values 0 or 1/(1-p)
  std::vector<float> pi_q_masks;  // (2, (H + 1) * B, mlp_dim) dropout masks of the policy-loss heads
};

class Tdmpc2Agent final : public Agent {
 public:
  explicit Tdmpc2Agent(const Tdmpc2AgentConfig& config);

  std::string name() const override { return "tdmpc2"; }
  void reset() override;
  std::vector<float> act(std::span<const float> obs, bool eval) override;
  UpdateInfo update(ReplayBuffer& buffer) override;
  AgentState state() const override;
  void load_state(const AgentState& state) override;

  // One update from a given batch and given random choices (the golden test's entry point).
  // tasks: the task of each of the batch's B sub-trajectories (multitask only; empty single-task).
  UpdateInfo update_batch(const Batch& batch, const UpdateNoise& noise, std::span<const int> tasks = {});
  void draw_noise(UpdateNoise& noise);

  // The task act() plans for (multitask); its discount becomes the planner's.
  void set_task(int task);
  int task() const { return task_; }

  // The update in pieces, for gradient checks; update_batch runs them with the optimizer steps in
  // between. compute_targets: step 1 (no grad): next_z and the TD targets, read by the loss below.
  void compute_targets(const Batch& batch, const UpdateNoise& noise, std::span<const int> tasks = {});
  // Step 2-3 on the targets of the last compute_targets: the world-model loss (returned) and its
  // gradients in model().grads() (parameters of encoder..Q and the task embedding, (=) except the
  // embedding, which keeps what the last policy loss left, as in the official code).
  float model_loss_backward(const Batch& batch, const UpdateNoise& noise, UpdateInfo* info = nullptr);
  // The policy loss on the latents of the last model_loss_backward and its gradients (+=) into pi
  // and the task embedding; update_scale false keeps the running scale as it is.
  float pi_loss_backward(const UpdateNoise& noise, bool update_scale, UpdateInfo* info = nullptr);
  std::span<const float> td_targets() const { return td_; }  // (H, B) of the last compute_targets

  models::tdmpc2::Tdmpc2Model& model() { return *model_; }
  const Tdmpc2AgentConfig& config() const { return cfg_; }
  float discount() const { return discounts_[task_]; }
  float task_discount(int task) const { return discounts_.at(task); }
  float pi_scale() const { return scale_; }
  Rng& rng() { return rng_; }

 private:
  void model_update(const Batch& batch, const UpdateNoise& noise, std::span<const int> tasks,
                    UpdateInfo& info);
  void pi_update(const UpdateNoise& noise, UpdateInfo& info);
  // Per-row task ids of the last batch ((H + 1) * B rows, time-major), or nullptr single-task.
  const int* row_tasks() const { return row_tasks_.empty() ? nullptr : row_tasks_.data(); }
  // Scatters the embedding columns [col, col + task_dim) of rows x width input gradients into the
  // embedding's gradient (+=), each row into its task's row.
  void add_task_grad(const float* dx, int width, int col, int rows);

  Tdmpc2AgentConfig cfg_;
  std::vector<float> discounts_;  // per task
  std::unique_ptr<models::tdmpc2::Tdmpc2Model> model_;
  // One planner per distinct task discount (the planner's discount is fixed at construction);
  // planner_ is the current task's.
  std::vector<std::unique_ptr<planners::Planner>> planners_;
  std::vector<int> planner_of_task_;
  planners::Planner* planner_ = nullptr;
  int task_ = 0;
  std::vector<int> row_tasks_;
  Adam optim_, pi_optim_;
  float scale_ = 1.f;  // RunningScale of the policy loss
  Rng rng_;
  std::int64_t updates_ = 0;
  UpdateNoise noise_;  // reused by update(); sized once

  // Update buffers (rows: B = batch, HB = H * B, H1B = (H + 1) * B).
  models::tdmpc2::MlpCache enc_cache_, rew_cache_, pi_cache_, target_cache_;
  std::vector<models::tdmpc2::MlpCache> dyn_caches_;  // one per step
  std::vector<models::tdmpc2::MlpCache> q_caches_;    // one per head
  std::vector<float> step_w_;                         // rho^t, t < H
  std::vector<double> row_se_;                        // per-row squared errors of the consistency loss (HB)
  std::vector<float> next_z_, td_, td_action_, td_q_, zs_, dz_, dx_;
  std::vector<HeadScratch> head_scratch_;  // reward, then one per Q head (the policy loss uses two)
  std::vector<float> pi_action_, q_sum_, q_tmp_, da_, dpi_out_, sorted_;
  Tensor obs_, act_buf_;  // act(): one observation, planned as a batch of one
};

}  // namespace lucid::agents
