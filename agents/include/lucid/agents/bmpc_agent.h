// The BMPC agent (Wang et al., ICLR 2025; facts/tdmpc2.md §2): TD-MPC2's world-model learning with
// V(z) heads, and a policy that imitates the planner.
//
// Acting: the planner (MPPI by default, any of planner.h's) picks the action; when training, the
// planner's action distribution at that state — the EXPERT — is kept: MPPI's (first action of the
// Gumbel-selected elite, final std of the first step), Dream-MPC's (mean and clamped std of the
// candidates' first actions), or for other planners the policy's own Gaussian. The trainer adds
// whole episodes to the replay buffer later, so the agent queues (observation, expert) pairs and,
// at the next update, writes each into the buffer's "expert" field at the stored observation it
// was computed from (matched in order by value); states it did not plan (seed data) keep N(0, 1).
//
// update() = one batch of (H+1, B) observations with their experts, then:
//   1. no grad: z_t^real = enc(obs[t]) (t < H), a = pi(z^real) sampled, model-based 1-step TD
//      target td = R(z^real, a) + gamma * mean of the target V heads at d(z^real, a).
//   2. z_0 = enc(obs[0]), z_{t+1} = d(z_t, a_t); consistency (vs enc(obs[t+1])), reward and value
//      (every V head at z_t, with dropout) losses, rho^t-weighted, coefficients 20 / 0.1 / 0.1;
//      clip 20; Adam (encoder x0.3).
//   3. unless pretraining: policy on the detached latents z_0..z_H: loss = mean_t rho^t mean_b
//      (KL(pi || expert) / S - 1e-4 scaled_entropy), KL averaged over action dims, S the running
//      5-95 percentile scale of step 0's KL (min 1, tau 0.01); clip 20; Adam (eps 1e-5).
//   4. target-V EMA (tau 0.01).
// Lazy reanalyze: every reanalyze_interval updates (not while pretraining), the first
// reanalyze_batch_size sequences x H states are re-planned in ONE BatchedMppi call (t0, no warm
// start) and the new experts written into the buffer slots sampled and into the current batch.
// Pretraining = updates before the agent's first training act (the trainer's seed burst): model
// only, as BMPC.
//
// All random choices of one update (policy noise, dropout masks) are drawn up front into a
// BmpcUpdateNoise, so a test can replay them. Memory: activation buffers are sized at
// construction; an update allocates nothing but the acting queue's entries.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lucid/agents/agent.h"
#include "lucid/agents/replay_buffer.h"
#include "lucid/agents/rho_soft_ce.h"
#include "lucid/engine/optim.h"
#include "lucid/engine/rng.h"
#include "lucid/models/bmpc/model.h"
#include "lucid/planners/batched_mppi.h"
#include "lucid/planners/planner.h"

namespace lucid::agents {

struct BmpcAgentConfig {
  int obs_dim = 0;
  int action_dim = 0;
  int model_size = 5;
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
  bool mpc = true;           // plan; false: act with the policy prior
  int reanalyze_interval = 10;
  int reanalyze_batch_size = 20;
  std::uint64_t seed = 1;
  planners::PlannerConfig planner;  // action/latent dims, horizon and discount are filled in
};

// The policy loss of step 3 on given policy outputs (the golden test's entry point).
// out (R, 2A): raw policy head outputs (mu, x), R = steps * B rows, time-major; eps (R, A): the
// noise of the sampled entropy estimate; expert (R, 2A): [mean | std]. scale: the running scale,
// updated in place from step 0's KL. Writes dout (R, 2A) = d loss / d out (=); scratch: B floats.
struct BmpcPiLoss {
  float loss = 0.f, kl = 0.f, entropy = 0.f;  // kl, entropy: means over rows
};
BmpcPiLoss bmpc_pi_loss(const float* out, const float* eps, const float* expert, int steps, int batch,
                        int action_dim, float log_std_min, float log_std_max, float rho, float entropy_coef,
                        float tau, float& scale, float* dout, std::span<float> scratch);

struct BmpcUpdateNoise {
  std::vector<float> td_eps;   // (H * B, A) policy noise at the real latents (TD target)
  std::vector<float> pi_eps;   // ((H + 1) * B, A) noise of the entropy estimate
  std::vector<float> v_masks;  // (num_q, H * B, mlp_dim) dropout masks, values 0 or 1/(1-p)
};

class BmpcAgent final : public Agent {
 public:
  explicit BmpcAgent(const BmpcAgentConfig& config);

  std::string name() const override { return "bmpc"; }
  void reset() override;
  std::vector<float> act(std::span<const float> obs, bool eval) override;
  UpdateInfo update(ReplayBuffer& buffer) override;
  AgentState state() const override;
  void load_state(const AgentState& state) override;

  // One update from a batch, its experts ((H+1, B, 2A), [mean | std]) and given random choices.
  UpdateInfo update_batch(const Batch& batch, std::span<const float> expert, const BmpcUpdateNoise& noise,
                          bool train_pi);
  void draw_noise(BmpcUpdateNoise& noise);
  // Re-plans the first reanalyze_batch_size rows x H states of `batch` in one planner call, writes
  // the experts into the buffer's slots and into `expert` ((H+1, B, 2A)). Returns the plans made.
  int reanalyze(ReplayBuffer& buffer, const Batch& batch, std::span<float> expert);
  // The buffer field holding the experts (registered on first use); width 2A, fill N(0, 1).
  int expert_field(ReplayBuffer& buffer);
  // Writes queued experts into newly added episodes (see the header comment).
  void sync_experts(ReplayBuffer& buffer);

  models::bmpc::BmpcModel& model() { return *model_; }
  const BmpcAgentConfig& config() const { return cfg_; }
  float discount() const { return discount_; }
  float pi_scale() const { return scale_; }
  std::int64_t updates() const { return updates_; }
  std::size_t queued_experts() const { return pending_.size(); }
  // The expert of the last training act: [mean | std], 2A values.
  std::span<const float> last_expert() const { return last_expert_; }

 private:
  void model_update(const Batch& batch, const BmpcUpdateNoise& noise, UpdateInfo& info);
  void pi_update(std::span<const float> expert, const BmpcUpdateNoise& noise, UpdateInfo& info);
  void record_expert(std::span<const float> obs);

  BmpcAgentConfig cfg_;
  float discount_;
  std::unique_ptr<models::bmpc::BmpcModel> model_;
  std::unique_ptr<planners::Planner> planner_;
  planners::BatchedMppi* mppi_ = nullptr;  // planner_ when acting with MPPI
  std::unique_ptr<planners::BatchedMppi> reanalyzer_;
  Adam optim_, pi_optim_;
  float scale_ = 1.f;  // RunningScale of the KL
  Rng rng_;
  std::int64_t updates_ = 0;
  std::int64_t train_acts_ = 0;  // 0: still pretraining
  BmpcUpdateNoise noise_;

  // Acting queue: experts waiting for their episode to reach the buffer.
  struct PendingExpert {
    std::int64_t episode_serial = 0;
    std::vector<float> obs, expert;
  };
  std::deque<PendingExpert> pending_;
  std::int64_t episode_serial_ = 0;
  std::int64_t synced_id_ = 0;  // buffer ids below this were scanned for queued experts
  const ReplayBuffer* field_buffer_ = nullptr;
  int field_ = -1;
  std::vector<float> last_expert_;

  // Update buffers (rows: B = batch, HB = H * B, H1B = (H + 1) * B).
  models::tdmpc2::MlpCache enc_cache_, rew_cache_, pi_cache_;
  std::vector<models::tdmpc2::MlpCache> dyn_caches_, v_caches_;
  std::vector<double> row_se_;  // per-row squared errors of the consistency loss (B)
  std::vector<float> next_z_, z_real_, td_, td_action_, td_r_, td_z_, zs_, dz_, dx_;
  std::vector<HeadScratch> head_scratch_;  // what each head's job writes (rho_soft_ce.h)
  std::vector<float> expert_, dpi_out_, sorted_;
  Tensor obs_, re_obs_;  // act(): one observation; reanalyze: its states
  std::vector<Rng> re_rngs_;
};

}  // namespace lucid::agents
