// MPPI — TD-MPC2's sampling planner (facts/tdmpc2.md §1.6), batched over B observations.
//
// Per observation: num_pi_trajs action sequences rolled out with the policy prior (fixed across
// iterations), num_samples - num_pi_trajs Gaussian sequences clamp(mean + std N(0,1), -1, 1).
// Value = sum_t gamma^t r_t + gamma^H mean(Q of 2 random heads)(z_H, pi(z_H)) (only those 2 heads
// are evaluated). The policy sequences' rewards and z_H do not change across iterations, so they
// are rolled out once per call and only their terminal value (a fresh pi(z_H) sample) is
// recomputed: the same values as the official loop, with num_pi_trajs / num_samples less rollout
// work.
//
// Threads: when the model allows concurrent queries, each OpenMP thread rolls out its own slice
// of the rows from start to terminal value, so one iteration has one fork/join instead of one per
// GEMM and LayerNorm; every row's arithmetic is the same as in a single batch, so results do not
// depend on the thread count. The num_elites best refit mean and std with
// weights exp(temperature (v - v_max)); std is reset to max_std every call, mean warm-starts from
// the previous call's final mean shifted by one step. The action is the first step of one elite
// drawn by Gumbel-max in proportion to its weight, plus std[0] N(0,1) noise when training.
//
// Buffers: everything for max_batch observations is allocated in allocate(); plan() allocates
// nothing (tensor views are rebuilt only when B changes).
//
// On the CUDA device (obs on Device::kCuda, the model's queries on the device; mppi_cuda.cc):
// the encode, the policy-prior rollout and, per iteration, the noise draw (Philox on the device,
// the very numbers the CPU's Rng gives, the Rng advanced alike), the clamped sampling, every
// rollout step and the terminal value run as device launches on one stream with no host round
// trip, and so do the elite selection and the refit (kernels/cuda/mppi.cu). Per iteration the
// host reads back only what the CPU path keeps on the host: the new mean and std, the elites and
// their weights, the elite mean (trace) and the first step's actions (the final Gumbel pick).
// The returned action is a device tensor. Same plan as the CPU for the same Rng, up to float
// summation order. CUDA graph: the iteration's sampling and H-step rollout (everything whose
// launch arguments are fixed for a batch size) is captured once per batch size and replayed; the
// two Philox draws (their offsets are launch arguments) and the terminal value (its head pair is
// drawn per iteration) are launched around it. The model's device twin keeps its buffers at fixed
// addresses for this (model_cuda.h).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "lucid/engine/cuda_launchers.h"
#include "lucid/planners/planner.h"
#include "lucid/planners/rollout_rows.h"

namespace lucid::planners {

// The checks both MPPI planners (this one and BatchedMppi) make on their config (ConfigError),
// and their iteration count: config iterations, + 2 when the action has >= 20 dims.
void check_mppi_config(const PlannerConfig& config);
int mppi_iterations(const PlannerConfig& config);

class Mppi final : public Planner {
 public:
  explicit Mppi(const PlannerConfig& config);
  std::string name() const override { return "mppi"; }
  void allocate(int max_batch) override;
  void reset() override;
  Tensor plan(const models::WorldModel& model, const Tensor& obs, Rng& rng, bool eval) override;

  int iterations() const;
  // Final MPPI mean of the last plan() call, (B, horizon, action_dim) row-major: the warm start.
  const std::vector<float>& mean() const { return mean_; }
  const std::vector<float>& std_dev() const { return std_; }
  // Device plans replay each iteration's sampling + rollout as a CUDA graph (default on); off,
  // every kernel is launched from the host (to count or profile them one by one).
  void set_cuda_graphs(bool on) { cuda_graphs_ = on; }
  // Elite value mean per iteration of the last call for batch row 0 (diagnostics and tests).
  const std::vector<float>& elite_value_trace() const { return elite_trace_; }
  // Every sample's value estimate in the last iteration (max_batch * num_samples; the first
  // B * num_samples are the last call's): diagnostics and tests.
  const std::vector<float>& sample_values() const { return value_; }

 private:
  // A slice [begin, end) of the rows with views of every per-row buffer on it (rollout_rows.h);
  // z_shared is the observation's latent for chunks inside one observation.
  struct Chunk : RolloutRows {
    Tensor q;
  };
  void make_views(int batch, int threads);
  Chunk make_chunk(std::int64_t begin, std::int64_t end);
  // Rewards summed into value_ and z_H into z_term_, over the chunk's rows.
  void rollout(const models::WorldModel& model, const Chunk& c);
  // value_ += gamma^H * mean over `heads` of Q(z_H, pi(z_H)) over the chunk's rows.
  void terminal_value(const models::WorldModel& model, const Chunk& c, std::span<const int> heads,
                      float gamma_h);
  void estimate_value(const models::WorldModel& model, int batch, Rng& rng);
  // CPU: encode, z_start, the policy-prior rollout; the Gaussian samples of one iteration.
  void prepare_cpu(const models::WorldModel& model, const Tensor& obs, int batch, Rng& rng);
  void sample_actions_cpu(int batch, Rng& rng);
  // Device (mppi_cuda.cc): the same steps on dev_; iterate_cuda samples, rolls out, adds the
  // terminal value, refits and leaves mean_, std_, elite_, score_ and the first step's actions on
  // the host; finish_cuda uploads the action.
  void prepare_cuda(const models::WorldModel& model, const Tensor& obs, int batch, Rng& rng);
  void iterate_cuda(const models::WorldModel& model, int batch, Rng& rng);
  Tensor finish_cuda(int batch);

  PlannerConfig cfg_;
  int max_batch_ = 0;
  int view_batch_ = -1, view_threads_ = -1;
  bool warm_ = false;  // prev_mean_ holds a previous call's mean

  // Full-size buffers (rows = max_batch * num_samples unless noted).
  Tensor z0_;                      // (max_batch, L)
  Tensor z_start_, z_a_, z_b_;     // (rows, L)
  Tensor z_term_;                  // (rows, L): z_H of every sequence
  Tensor actions_;                 // (H, rows, A), sample-major within each observation
  Tensor pi_z_a_, pi_z_b_;         // (max_batch * P, L)
  Tensor pi_actions_;              // (H, max_batch * P, A)
  Tensor pi_eps_;                  // (max_batch * P, A)
  Tensor pi_reward_;               // (max_batch * P, 1)
  Tensor reward_, q_;              // (rows, 1)
  Tensor term_action_, term_eps_;  // (rows, A)
  Tensor out_;                     // (max_batch, A)
  // Views of the above for the current batch size.
  struct Views {
    Tensor obs_z0, z_start, pi_z_a, pi_z_b, pi_eps, pi_reward, term_eps, out;
    std::vector<Tensor> actions, pi_actions;  // per step
    // Per observation b and thread c (index b * threads + c): thread c's slice of b's rows, whose
    // Gaussian rows it rolls out (`rolled`) and whose terminal values it then adds (`valued`), so
    // no thread waits for another's rollout within an iteration.
    std::vector<Chunk> rolled, valued;
  } v_;

  std::vector<float> value_;                   // rows
  std::vector<float> pi_return_;               // max_batch * P: the policy rows' reward sums
  std::vector<float> noise_;                   // rows * H * A
  std::vector<float> mean_, std_, prev_mean_;  // (max_batch, H, A)
  std::vector<int> order_;                     // num_samples
  std::vector<int> elite_;                     // (max_batch, K)
  std::vector<float> score_;                   // (max_batch, K)
  std::vector<float> elite_trace_;

  // Device twins of the buffers above (max_batch rows), made by the first device plan().
  struct DeviceBuffers {
    Tensor z0, z_a, z_b, z_term;      // (max_batch, L), (rows, L) x 3
    Tensor actions;                   // (H, rows, A)
    Tensor pi_z_a, pi_z_b, pi_eps;    // (max_batch * P, L) x 2, (max_batch * P, A)
    Tensor pi_actions;                // (H, max_batch * P, A)
    Tensor pi_reward, pi_return;      // (max_batch * P)
    Tensor reward, q, value;          // (rows)
    Tensor term_eps, term_action;     // (rows, A)
    Tensor noise;                     // rows * H * A
    Tensor mean, std_dev;             // (max_batch * H * A)
    Tensor out;                       // (max_batch, A)
    Tensor elite, score, elite_mean;  // (max_batch, K) x 2 (indices as floats), (max_batch)
    bool mean_current = false;        // mean / std_dev hold this call's refit (no upload needed)
    // Per batch size B: the CUDA graph of an iteration's sampling + rollout (captured on B's
    // second device iteration, replayed from then on).
    std::vector<CudaGraphSlot> graphs;
  } dev_;
  bool cuda_graphs_ = true;
};

}  // namespace lucid::planners
