// hopper-stand / hopper-hop (facts §4.9): a planar one-legged robot rewarded for standing tall
// (with small controls) or for hopping forward.
// Obs 15 = position(qpos[1:], 6) + velocity(qvel, 7) + touch(log1p of the toe and heel touch
// sensors, 2); action 4 (waist, hip, knee, ankle); control dt .02 s = 4 x .005 s.
#pragma once

#include <memory>

#include "dmc/dmc_task.h"

namespace lucid::envs::dmc {

enum class HopperVariant { kStand, kHop };

std::unique_ptr<DmcTask> make_hopper(HopperVariant variant);

}  // namespace lucid::envs::dmc
