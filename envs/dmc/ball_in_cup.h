// ball_in_cup-catch (facts §4.6): obs 8 = position(qpos 4) + velocity(qvel 4); action 2 (cup x, z).
// Control step .02 s = 10 physics steps of 2 ms.
#pragma once

#include <memory>

#include "dmc/dmc_task.h"

namespace lucid::envs::dmc {

std::unique_ptr<DmcTask> make_ball_in_cup_catch();

}  // namespace lucid::envs::dmc
