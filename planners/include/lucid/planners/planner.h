// Planner — chooses actions by optimising over a WorldModel (DESIGN.md "Planner").
//
// Lifecycle (as mujoco_mpc's planners): construct from a PlannerConfig, allocate(max_batch) once
// (every buffer for up to max_batch observations is sized there), reset() at each episode start
// (drops warm-start state), then plan() every step. plan() takes obs (B, obs_dim) with
// B <= max_batch and returns actions (B, action_dim) in [-1, 1]; the returned tensor is a view of
// a buffer owned by the planner, valid until the next plan() call. Warm-start state lives inside,
// per batch row. The model's own scratch grows on the first plan() call to the largest batch;
// after that a plan() call allocates nothing.
//
// One factory maps names to planners; add a planner by adding one line to its registry
// (planners/factory.cc).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lucid/engine/rng.h"
#include "lucid/engine/tensor.h"
#include "lucid/models/world_model.h"

namespace lucid::planners {

// Keys spelled as in TD-MPC2's config.yaml; defaults are the official ones (facts/tdmpc2.md §1.1).
struct PlannerConfig {
  std::string name = "mppi";
  int action_dim = 0;  // must match the model's
  int latent_dim = 0;  // must match the model's (sizes the latent buffers in allocate)
  int horizon = 3;
  int iterations = 6;  // MPPI adds 2 when action_dim >= 20
  int num_samples = 512;
  int num_elites = 64;
  int num_pi_trajs = 24;
  float min_std = 0.05f;
  float max_std = 2.f;
  float temperature = 0.5f;
  float discount = 0.99f;
  // Gradient planners (Dream-MPC, Grad-MPC; facts/dream_mpc.md §1.2): step size, uncertainty
  // penalty lambda, warm-start blend rho, global gradient-norm clip.
  float mpc_lr = 0.1f;
  float regularization_coefficient = 0.01f;
  float action_reusage_coefficient = 0.1f;
  float grad_clip_norm = 20.f;
};

class Planner {
 public:
  virtual ~Planner() = default;
  virtual std::string name() const = 0;
  virtual void allocate(int max_batch) = 0;
  virtual void reset() = 0;
  // eval = true: no exploration noise (evaluation episodes).
  virtual Tensor plan(const models::WorldModel& model, const Tensor& obs, Rng& rng, bool eval) = 0;
};

// Throws ConfigError for an unknown name, listing the known ones.
std::unique_ptr<Planner> make_planner(const PlannerConfig& config);
std::vector<std::string> planner_names();
// The config a planner's paper uses (e.g. dream-mpc: 5 candidates, 1 iteration; grad-mpc: horizon
// 12, 40 iterations, 1000 candidates); a caller overrides only the keys the user set.
PlannerConfig planner_defaults(const std::string& name);

}  // namespace lucid::planners
