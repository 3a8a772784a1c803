// BatchedMppi — MPPI (facts/tdmpc2.md §1.6) over a leading batch of B states, where every state
// draws its random numbers from its own Rng stream, and that also reports BMPC's expert
// distribution per state (facts §2): mean = the first action of the Gumbel-selected elite, std =
// the final MPPI std of the first step.
//
// Why beside Mppi: BMPC's lazy reanalyze re-plans 60 replay states in ONE call (one model batch of
// B * num_samples rows per horizon step), and its result must not depend on how states are
// grouped: with one stream per state, plan_batch over B states gives what B single-state calls
// with the same streams give (tests/agents_bmpc). Mppi draws one stream for the whole batch, so
// its state b sees different numbers when B changes.
//
// Per state: num_pi_trajs policy-prior sequences (fixed across iterations), the rest
// clamp(mean + std N(0,1), -1, 1); value = sum_t gamma^t r_t + gamma^H (mean of 2 random value
// heads at z_H: V(z_H) for BMPC's V heads, Q(z_H, pi(z_H) sampled) for Q heads); elites refit mean/std with
// weights exp(temperature (v - v_max)) (elite_refit, shared with Mppi and CEM; the head pair is
// action_ascent.h's pick_two_heads); std reset to max_std every call; mean warm-started by the previous
// call's final mean shifted one step unless t0. The 2 value heads are drawn per state, so the terminal pass
// evaluates every head (value_ensemble) and averages each state's pair: free for BMPC's 2 V heads. Random
// draws per state, in order: policy eps per step; per iteration the Gaussian noise, the terminal policy eps
// (Q heads only), the 2 heads; then the Gumbel uniforms and (training) the action noise.
//
// Work: as Mppi, the policy-prior sequences are rolled out once per call (their rewards and z_H do
// not change across iterations), and the first step of every sampled sequence starts from its
// state's latent (WorldModel::step_from_shared_into). An iteration's rollouts run per state, in
// chunks of at most a few hundred rows (a state's rows, or a slice of them when there are fewer
// states than threads, 2 chunks per thread): a chunk's activations stay in the core's cache instead
// of streaming the B * num_samples rows of one giant batch through memory every layer, and when the
// model allows concurrent queries the threads take whole chunks, one fork/join per sweep. Every
// row's arithmetic is the same however rows are grouped, so results do not depend on B (beyond the
// streams), the chunking or the thread count.
//
// Buffers: everything for max_batch states is allocated in allocate(); plan() allocates nothing
// beyond the tensor views, rebuilt when B, the thread count or the model's head count changes.
#pragma once

#include <span>
#include <vector>

#include "lucid/planners/planner.h"
#include "lucid/planners/rollout_rows.h"

namespace lucid::planners {

class BatchedMppi final : public Planner {
 public:
  explicit BatchedMppi(const PlannerConfig& config);
  std::string name() const override { return "mppi"; }
  void allocate(int max_batch) override;
  void reset() override;
  // Planner form: one state uses `rng` itself; B > 1 states get streams seeded from one draw of it.
  Tensor plan(const models::WorldModel& model, const Tensor& obs, Rng& rng, bool eval) override;

  // obs (B, obs_dim), rngs[b] for state b. t0 = true plans without the warm start (reanalyze).
  // Returns actions (B, action_dim), a view valid until the next call.
  Tensor plan_batch(const models::WorldModel& model, const Tensor& obs, std::span<Rng> rngs, bool eval,
                    bool t0);

  int iterations() const;
  // Expert distribution of the last call, (B, action_dim) each, row-major.
  std::span<const float> expert_mean() const {
    return {expert_mean_.data(), static_cast<std::size_t>(batch_ * A_)};
  }
  std::span<const float> expert_std() const {
    return {expert_std_.data(), static_cast<std::size_t>(batch_ * A_)};
  }

 private:
  // Rows [begin, end) of one state: a slice of its sampled rows (rollout) or of all its rows
  // (terminal value), with views of every buffer over those rows (rollout_rows.h). vs is the
  // chunk's own (num_values, rows, 1) block of vs_.
  struct Chunk : RolloutRows {
    int state = 0;
    Tensor vs;
  };
  Chunk make_chunk(int state, std::int64_t begin, std::int64_t end, int num_values);
  void make_views(int batch, int threads, int num_values);
  void prior_rollout(const models::WorldModel& model, int batch, std::span<Rng> rngs);
  void terminal_value(const models::WorldModel& model, const Chunk& c, int num_values, float gamma_h);
  void evaluate(const models::WorldModel& model, int threads, int num_values, float gamma_h);

  PlannerConfig cfg_;
  int max_batch_ = 0, batch_ = 0, A_ = 0, view_batch_ = -1, view_threads_ = -1, view_values_ = -1;
  bool warm_ = false;

  Tensor z0_, z_start_, z_a_, z_b_, z_term_, actions_, pi_z_a_, pi_z_b_, pi_actions_, pi_eps_, pi_reward_,
      reward_, vs_, term_action_, term_eps_, out_;
  struct Views {
    Tensor z0, z_start, pi_z_a, pi_z_b, pi_eps, pi_reward, term_eps, out;
    std::vector<Tensor> actions, pi_actions;
    std::vector<Chunk> sampled, terminal;  // the work of one iteration, in two parallel sweeps
  } v_;
  std::vector<float> value_, noise_, mean_, std_, prev_mean_, score_, expert_mean_, expert_std_, pi_return_;
  std::vector<int> order_, elite_, heads_;
  std::vector<Rng> row_rngs_;
};

}  // namespace lucid::planners
