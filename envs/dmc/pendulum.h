// pendulum-swingup (facts §4.2): obs 3 = orientation(pole zz, xz) + velocity(1); action 1.
#pragma once

#include <memory>

#include "dmc/dmc_task.h"

namespace lucid::envs::dmc {

std::unique_ptr<DmcTask> make_pendulum_swingup();

}  // namespace lucid::envs::dmc
