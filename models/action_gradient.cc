// make_action_gradient: picks the differentiable rollout a world model supports.
#include "lucid/models/action_gradient.h"

#include "lucid/error.h"
#include "lucid/models/tdmpc2/action_gradient.h"

namespace lucid::models {

std::unique_ptr<ActionGradient> make_action_gradient(const WorldModel& model) {
  if (const auto* tdmpc2 = dynamic_cast<const tdmpc2::Tdmpc2Model*>(&model))
    return std::make_unique<tdmpc2::Tdmpc2ActionGradient>(*tdmpc2);
  if (const auto* source = dynamic_cast<const ActionGradientSource*>(&model))
    return source->make_action_gradient();
  LUCID_FAIL(Error)
      << "this world model offers no action gradient (neither TD-MPC2 nor an ActionGradientSource)";
}

}  // namespace lucid::models
