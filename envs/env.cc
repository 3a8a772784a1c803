// check_action: the one place that decides which actions an Env accepts.
#include "lucid/envs/env.h"

#include <cmath>

#include "lucid/error.h"

namespace lucid::envs {

void check_action(std::span<const float> action, int action_dim, const std::string& who) {
  LUCID_CHECK_AS(static_cast<int>(action.size()) == action_dim, EnvError)
      << who << ": expected an action of " << action_dim << " values, got " << action.size();
  for (std::size_t i = 0; i < action.size(); ++i) {
    LUCID_CHECK_AS(std::isfinite(action[i]), EnvError) << who << ": action[" << i << "] is " << action[i];
  }
}

}  // namespace lucid::envs
