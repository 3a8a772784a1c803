// walker-stand / walker-walk / walker-run (facts §4.8): a planar biped rewarded for keeping its
// torso high and upright and, for walk and run, for forward speed.
// Obs 24 = orientations(14: xx, xz of the 7 bodies) + height(1: torso z) + velocity(qvel, 9);
// action 6 (right hip, knee, ankle, left hip, knee, ankle); control dt .025 s = 10 x .0025 s.
#pragma once

#include <memory>

#include "dmc/dmc_task.h"

namespace lucid::envs::dmc {

inline constexpr double kWalkerStandSpeed = 0.0;
inline constexpr double kWalkerWalkSpeed = 1.0;
inline constexpr double kWalkerRunSpeed = 8.0;

// move_speed 0 is walker-stand; otherwise the forward speed (m/s) at which the reward saturates.
std::unique_ptr<DmcTask> make_walker(double move_speed);

}  // namespace lucid::envs::dmc
