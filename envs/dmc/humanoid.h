// humanoid-stand / humanoid-walk / humanoid-run (facts §4.11): a 21-joint 3-D humanoid rewarded
// for a high head, an upright torso, small controls and, for walk and run, horizontal speed.
// Obs 67 = joint_angles(qpos[7:], 21) + head_height(1) + extremities(12: left hand, left foot,
// right hand, right foot relative to the torso, in the torso frame) + torso_vertical(3: torso
// zx, zy, zz) + com_velocity(3: subtreelinvel(torso)) + velocity(qvel, 27); action 21;
// control dt .025 s = 5 x .005 s.
#pragma once

#include <memory>

#include "dmc/dmc_task.h"

namespace lucid::envs::dmc {

inline constexpr double kHumanoidStandSpeed = 0.0;
inline constexpr double kHumanoidWalkSpeed = 1.0;
inline constexpr double kHumanoidRunSpeed = 10.0;

// move_speed 0 is humanoid-stand; otherwise the horizontal speed (m/s) at which the reward saturates.
std::unique_ptr<DmcTask> make_humanoid(double move_speed);

}  // namespace lucid::envs::dmc
