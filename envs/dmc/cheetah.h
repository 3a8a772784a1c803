// cheetah-run (facts §4.7): a planar runner rewarded for forward speed up to 10 m/s.
// Obs 17 = position(qpos[1:], 8: everything but the forward position) + velocity(qvel, 9);
// action 6 (hind thigh, shin, foot, front thigh, shin, foot); control dt = physics dt = .01 s.
#pragma once

#include <memory>

#include "dmc/dmc_task.h"

namespace lucid::envs::dmc {

inline constexpr double kCheetahRunSpeed = 10.0;  // m/s at which the reward saturates

std::unique_ptr<DmcTask> make_cheetah_run();

}  // namespace lucid::envs::dmc
