// cartpole-{balance, balance_sparse, swingup, swingup_sparse} (facts §4.1): a cart on a rail with
// one hinged pole. Obs 5 = position(cart x, pole zz, pole xz) + velocity(qvel 2); action 1.
#pragma once

#include <memory>

#include "dmc/dmc_task.h"

namespace lucid::envs::dmc {

enum class CartpoleVariant { kBalance, kBalanceSparse, kSwingup, kSwingupSparse };

std::unique_ptr<DmcTask> make_cartpole(CartpoleVariant variant);

}  // namespace lucid::envs::dmc
