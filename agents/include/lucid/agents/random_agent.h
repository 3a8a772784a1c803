// RandomAgent — uniform actions in [-1, 1]: the baseline every return is compared with, and the
// agent behind `lucid eval agent=random`. It learns nothing (update() reports nothing).
#pragma once

#include "lucid/agents/agent.h"
#include "lucid/engine/rng.h"

namespace lucid::agents {

class RandomAgent final : public Agent {
 public:
  RandomAgent(int action_dim, std::uint64_t seed) : action_dim_(action_dim), rng_(seed, /*stream=*/7) {}
  std::string name() const override { return "random"; }
  void reset() override {}
  std::vector<float> act(std::span<const float> obs, bool eval) override;
  UpdateInfo update(ReplayBuffer& buffer) override { return {}; }
  AgentState state() const override;
  void load_state(const AgentState& state) override;

 private:
  int action_dim_;
  Rng rng_;
};

}  // namespace lucid::agents
