// finger-spin, finger-turn_{easy, hard} (facts §4.5). All observations come from sensors.
//   spin: obs 9 = position(proximal, distal, tip - spinner x,z) + velocity(3) + touch(log1p 2)
//   turn: obs 12 = spin's 9 + target_position(target - spinner x,z) + dist_to_target(1)
// Action 2 (proximal and distal motors); control step .02 s = 2 physics steps.
#pragma once

#include <memory>

#include "dmc/dmc_task.h"

namespace lucid::envs::dmc {

inline constexpr double kFingerTurnEasyRadius = 0.07;
inline constexpr double kFingerTurnHardRadius = 0.03;

std::unique_ptr<DmcTask> make_finger_spin();
std::unique_ptr<DmcTask> make_finger_turn(double target_radius);

}  // namespace lucid::envs::dmc
