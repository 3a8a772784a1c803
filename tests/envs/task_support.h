// The expected sizes of every DMC task (facts §3), for the tests parameterised over task_names().
#pragma once

#include <map>
#include <string>

namespace lucid::envs::testing {

struct TaskSpec {
  int obs_dim, action_dim, n_sub_steps;
};

// facts §3: observation size, action size, physics steps per control step.
inline const std::map<std::string, TaskSpec>& task_specs() {
  static const std::map<std::string, TaskSpec> specs = {
      {"cartpole-balance", {5, 1, 1}},  {"cartpole-balance_sparse", {5, 1, 1}},
      {"cartpole-swingup", {5, 1, 1}},  {"cartpole-swingup_sparse", {5, 1, 1}},
      {"pendulum-swingup", {3, 1, 1}},  {"acrobot-swingup", {6, 1, 1}},
      {"reacher-easy", {6, 2, 1}},      {"reacher-hard", {6, 2, 1}},
      {"finger-spin", {9, 2, 2}},       {"finger-turn_easy", {12, 2, 2}},
      {"finger-turn_hard", {12, 2, 2}}, {"ball_in_cup-catch", {8, 2, 10}},
      {"cheetah-run", {17, 6, 1}},      {"walker-stand", {24, 6, 10}},
      {"walker-walk", {24, 6, 10}},     {"walker-run", {24, 6, 10}},
      {"hopper-stand", {15, 4, 4}},     {"hopper-hop", {15, 4, 4}},
      {"fish-swim", {24, 5, 10}},       {"humanoid-stand", {67, 21, 5}},
      {"humanoid-walk", {67, 21, 5}},   {"humanoid-run", {67, 21, 5}},
  };
  return specs;
}

}  // namespace lucid::envs::testing
