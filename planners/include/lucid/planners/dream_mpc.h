// Dream-MPC (Spieler & Behnke 2026) exactly as the official `_plan` (facts/dream_mpc.md §1.3),
// batched over B observations.
//
// Per observation: N = num_pi_trajs candidate sequences are rolled out with the sampled policy
// prior through the latent dynamics; unless this is the first call after reset(), each is blended
// index to index with the previous call's candidate shifted one step (last action duplicated):
// A0 = rho * shifted + (1 - rho) * prior. Then `iterations` (+2 when action_dim >= 20) plain SGD
// steps A += mpc_lr * clip(dJ/dA) on
//   J = sum_{t<H} [gamma^t R(z_t, a_t) - lambda u(z_{t+1}, a_t)] + gamma^H Q_avg(z_H, pi(z_H))
//       - lambda u(z_H, pi(z_H)),
// u = mean * std over the Q ensemble without gradient, Q_avg over two random heads and one
// terminal policy noise shared by all candidates of an observation (vmap randomness="same"), the
// gradient clipped to global norm grad_clip_norm over the observation's (H, N, A) block. The
// candidate with the highest J of the last gradient evaluation (before the final step) gives the
// action, clamped to [-1, 1]; all N candidates are stored clamped for the next call. A V-valued
// model (value_uses_action() false, BMPC) uses its V heads in place of Q(., pi(.)).
//
// Buffers: everything is sized in allocate(); the model's ActionGradient is made and reserved on
// the first plan() call with that model, after which plan() allocates nothing.
//
// On the CUDA device (obs on Device::kCuda, a single-task TD-MPC2 model; dream_mpc_cuda.cc) the
// whole call is device work: encode, the prior rollout, the warm start, the iterations through
// Tdmpc2ActionGradientCuda, clip-and-ascend and the selection. The host only walks the Rng in the
// CPU path's order (the head pairs, and the block offsets of every bulk normal draw, which the
// device draws at those offsets: the same numbers as on the CPU) and uploads those offsets and
// the head weights; with CUDA graphs on, the rest is one captured graph per (batch, warm start),
// replayed from the call after its first: one graph launch and two small uploads per call.
// The returned action and the stored candidates stay on the device.
#pragma once

#include <memory>
#include <vector>

#include "lucid/engine/cuda_launchers.h"
#include "lucid/models/action_gradient.h"
#include "lucid/planners/planner.h"

namespace lucid::planners {

class DreamMpc final : public Planner {
 public:
  explicit DreamMpc(const PlannerConfig& config);
  std::string name() const override { return "dream-mpc"; }
  void allocate(int max_batch) override;
  void reset() override;
  Tensor plan(const models::WorldModel& model, const Tensor& obs, Rng& rng, bool eval) override;

  int iterations() const;
  int num_candidates() const { return cfg_.num_pi_trajs; }
  // Stored (clamped) candidates of the last call, (H, B * N, A): the next call's warm start.
  const std::vector<float>& candidates() const { return stored_; }
  // J of every candidate at the last gradient evaluation of the last call, (B * N).
  const std::vector<float>& values() const { return value_; }
  // Candidates at the start of the last call's optimisation (after the warm-start blend).
  const std::vector<float>& initial_candidates() const { return init_; }
  // CUDA graphs for device plans (default on); off: every launch issued directly.
  void set_cuda_graphs(bool on) { cuda_graphs_ = on; }
  // The device path's stored candidates, (H, B * N, A) on the device (undefined before a device plan).
  const Tensor& device_candidates() const { return dev_.stored; }

 private:
  void make_views(int batch);
  Tensor plan_cuda(const models::WorldModel& model, const Tensor& obs, Rng& rng);
  // Eq. (6)'s objective from the config (terminal value and the uncertainty penalty on); the
  // caller sets the terminal noise and the heads.
  models::RolloutObjective objective() const;

  PlannerConfig cfg_;
  int max_batch_ = 0, view_batch_ = -1;
  bool warm_ = false;
  const models::WorldModel* grad_model_ = nullptr;
  std::unique_ptr<models::ActionGradient> grad_;

  Tensor z0_, z_rows_, out_;
  struct Views {
    Tensor z0, z_rows, out;
  } v_;
  std::vector<float> actions_, grad_buf_, stored_, init_, prior_, prior_eps_;  // (H, B * N, A)
  std::vector<float> value_, term_eps_;                                        // B * N; B * N * A

  // Device state (dream_mpc_cuda.cc); every tensor on Device::kCuda, sized for max_batch.
  struct DeviceState {
    std::unique_ptr<models::ActionGradient> grad;
    const models::WorldModel* model = nullptr;
    int batch = -1;
    Tensor obs, z0, z_rows, out;  // max_batch x obs_dim / L; max_batch * N x L; max_batch x A
    Tensor actions, grad_buf, stored, prior, prior_eps;  // (H, max_batch * N, A)
    Tensor value, term_draw, term_eps;               // max_batch * N; iters x max_batch x A; iters x rows x A
    Tensor head_w, offsets;                          // iters x num_q; the draws' Philox offsets (uint64 bits)
    std::vector<CudaGraphSlot> graphs;               // per (batch, warm): [2 * batch + warm]
    std::uint64_t graph_seed = 0, graph_stream = 0;  // the Rng the graphs were captured for
  } dev_;
  bool cuda_graphs_ = true;
};

}  // namespace lucid::planners
