// RandomAgent: uniform actions in [-1, 1] from its own Philox stream (see random_agent.h).
#include "lucid/agents/random_agent.h"

#include <string>

#include "lucid/error.h"

namespace lucid::agents {

std::vector<float> RandomAgent::act(std::span<const float> obs, bool eval) {
  std::vector<float> a(action_dim_);
  rng_.uniform(a.data(), a.size());
  for (float& v : a) v = 2.f * v - 1.f;
  return a;
}

AgentState RandomAgent::state() const {
  AgentState s;
  s.scalars["random/rng_offset"] = std::to_string(rng_.offset());
  return s;
}

void RandomAgent::load_state(const AgentState& s) {
  auto it = s.scalars.find("random/rng_offset");
  LUCID_CHECK_AS(it != s.scalars.end(), IoError) << "checkpoint has no value 'random/rng_offset'";
  rng_.set_offset(std::stoull(it->second));
}

}  // namespace lucid::agents
