// acrobot-swingup (facts §4.3): obs 6 = orientations(xz upper, xz lower, zz upper, zz lower) +
// velocity(2); action 1 (elbow torque).
#pragma once

#include <memory>

#include "dmc/dmc_task.h"

namespace lucid::envs::dmc {

std::unique_ptr<DmcTask> make_acrobot_swingup();

}  // namespace lucid::envs::dmc
