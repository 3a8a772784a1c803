// The rollout step shared by the MPPI planners (Mppi, BatchedMppi): the discounted model rewards of
// a contiguous range of candidate rows that all start from one latent, over the horizon.
//
// RolloutRows holds views of a planner's per-row buffers over rows [begin, end): z_shared (1, L)
// the start latent, z_start (n, L) that latent on every row (read only by models without a shared
// first step), z_a / z_b (n, L) the ping-pong latents, z_term (n, L) where z_H lands, reward (n, 1)
// scratch, actions[t] (n, A) per step; term_action / term_eps (n, A) for the planner's terminal
// value. make_rollout_rows builds the views (allocation-free afterwards: plan() reuses them).
// roll_out writes value[i] = sum_t gamma^t r_t for i < n (=, not +=) and z_H into z_term, the first
// step through WorldModel::step_from_shared_into; gamma^t is accumulated by repeated products, as
// the official loop does.
#pragma once

#include <cstdint>
#include <vector>

#include "lucid/engine/tensor.h"
#include "lucid/models/world_model.h"

namespace lucid::planners {

struct RolloutRows {
  std::int64_t begin = 0, end = 0;
  Tensor z_shared, z_start, z_a, z_b, z_term, reward, term_action, term_eps;
  std::vector<Tensor> actions;
};

// Views over rows [begin, end) of a planner's buffers, (rows, .) each; actions is (H, rows, A) and
// z_shared the (1, L) view of the start latent.
RolloutRows make_rollout_rows(std::int64_t begin, std::int64_t end, const Tensor& z_shared,
                              const Tensor& z_start, const Tensor& z_a, const Tensor& z_b,
                              const Tensor& z_term, const Tensor& reward, const Tensor& term_action,
                              const Tensor& term_eps, const Tensor& actions);

void roll_out(const models::WorldModel& model, const RolloutRows& rows, int horizon, float discount,
              float* value);

}  // namespace lucid::planners
