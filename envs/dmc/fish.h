// fish-swim (facts §4.10): a free-swimming fish rewarded for putting its mouth on a target sphere
// while staying upright.
// Obs 24 = joint_angles(7: tail1, tail_twist, tail2, finright_roll, finright_pitch, finleft_roll,
// finleft_pitch) + upright(1: torso zz) + target(3: target - mouth in the mouth frame) +
// velocity(qvel, 13); action 5 (position servos: tail, tail_twist, fins_flap, finleft_pitch,
// finright_pitch); control dt .04 s = 10 x .004 s.
#pragma once

#include <memory>

#include "dmc/dmc_task.h"

namespace lucid::envs::dmc {

std::unique_ptr<DmcTask> make_fish_swim();

}  // namespace lucid::envs::dmc
