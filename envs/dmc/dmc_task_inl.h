// Template definitions for dmc_task.h.
#pragma once

#include "lucid/error.h"

namespace lucid::envs::dmc {

template <typename Draw>
void draw_until_contact_free(Physics& physics, Draw&& draw, int max_attempts) {
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    draw();
    physics.forward_without_actuation();
    if (physics.data()->ncon == 0) return;
  }
  LUCID_FAIL(EnvError) << "no contact-free initial state in " << max_attempts << " attempts";
}

}  // namespace lucid::envs::dmc
