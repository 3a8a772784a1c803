// Agent — what the trainer drives (DESIGN.md "Agent").
//
// The trainer owns the loop: seeding, action repeat, evaluation, logging and checkpoints. An
// agent acts on one observation at a time and updates itself from the replay buffer. Its whole
// state (parameters, optimizer moments, target networks, running scales, RNG positions) is
// exported as named tensor records so the trainer can write one atomic checkpoint holding the
// agent, the buffer and the trainer's own counters together.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "lucid/engine/safetensors.h"

namespace lucid::agents {

class ReplayBuffer;

// Scalars an update reports (losses, grad norms, the running scale), for train.csv and progress.
using UpdateInfo = std::map<std::string, float>;

struct AgentState {
  std::vector<TensorRecord> tensors;           // names unique within the agent
  std::map<std::string, std::string> scalars;  // small scalar state (step counters, seeds), as text
};

// Reads back what an agent's state() wrote. Every failure (a missing record, a record of the wrong
// size, a missing scalar) is an IoError naming the agent (`who`) and the record.
class StateReader {
 public:
  StateReader(const AgentState& state, std::string who) : state_(state), who_(std::move(who)) {}
  const std::vector<float>& tensor(const std::string& name, std::size_t numel) const;
  void copy(const std::string& name, std::span<float> dst) const;  // tensor(name, dst.size()) into dst
  std::int64_t scalar(const std::string& key) const;

 private:
  const AgentState& state_;
  std::string who_;
};

class Agent {
 public:
  virtual ~Agent() = default;
  virtual std::string name() const = 0;
  // Called at the start of every episode (planners drop their warm-start state).
  virtual void reset() = 0;
  // One action (action_dim values in [-1, 1]) for one observation. eval=true: no exploration noise.
  virtual std::vector<float> act(std::span<const float> obs, bool eval) = 0;
  // One gradient update from a sampled batch.
  virtual UpdateInfo update(ReplayBuffer& buffer) = 0;
  virtual AgentState state() const = 0;
  // Restores exactly what state() exported; throws lucid::IoError on a missing or mis-shaped record.
  virtual void load_state(const AgentState& state) = 0;
};

}  // namespace lucid::agents
