// reacher-{easy, hard} (facts §4.4): obs 6 = position(qpos 2) + to_target(target - finger, xy) +
// velocity(2); action 2. The target's radius (.05 easy, .015 hard) is the only difference.
#pragma once

#include <memory>

#include "dmc/dmc_task.h"

namespace lucid::envs::dmc {

inline constexpr double kReacherEasyTargetSize = 0.05;
inline constexpr double kReacherHardTargetSize = 0.015;

std::unique_ptr<DmcTask> make_reacher(double target_size);

}  // namespace lucid::envs::dmc
