// The rollout step shared by Mppi and BatchedMppi (see rollout_rows.h).
#include "lucid/planners/rollout_rows.h"

namespace lucid::planners {

RolloutRows make_rollout_rows(std::int64_t begin, std::int64_t end, const Tensor& z_shared,
                              const Tensor& z_start, const Tensor& z_a, const Tensor& z_b,
                              const Tensor& z_term, const Tensor& reward, const Tensor& term_action,
                              const Tensor& term_eps, const Tensor& actions) {
  RolloutRows r;
  r.begin = begin;
  r.end = end;
  r.z_shared = z_shared;
  r.z_start = z_start.view_rows(begin, end);
  r.z_a = z_a.view_rows(begin, end);
  r.z_b = z_b.view_rows(begin, end);
  r.z_term = z_term.view_rows(begin, end);
  r.reward = reward.view_rows(begin, end);
  r.term_action = term_action.view_rows(begin, end);
  r.term_eps = term_eps.view_rows(begin, end);
  for (std::int64_t t = 0; t < actions.shape()[0]; ++t) r.actions.push_back(actions[t].view_rows(begin, end));
  return r;
}

void roll_out(const models::WorldModel& model, const RolloutRows& c, int horizon, float gamma, float* value) {
  if (c.end == c.begin) return;
  const std::int64_t n = c.end - c.begin;
  const Tensor* z = &c.z_start;
  float discount = 1.f;
  for (int t = 0; t < horizon; ++t) {
    const Tensor& z_next = t + 1 == horizon ? c.z_term : (t % 2 == 0 ? c.z_a : c.z_b);
    if (t == 0) {  // every row starts from the same latent
      model.step_from_shared_into(c.z_shared, *z, c.actions[0], c.reward, z_next);
    } else {
      model.reward_into(*z, c.actions[t], c.reward);
      model.next_into(*z, c.actions[t], z_next);
    }
    const float* r = c.reward.data();
    if (t == 0)
      for (std::int64_t i = 0; i < n; ++i) value[i] = r[i];
    else
      for (std::int64_t i = 0; i < n; ++i) value[i] += discount * r[i];
    discount *= gamma;
    z = &z_next;
  }
}

}  // namespace lucid::planners
