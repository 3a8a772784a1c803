// The checkpoint of a training run: one safetensors file holding the agent's state (records
// prefixed "agent/"), the replay buffer ("buffer/") and the trainer's counters ("trainer/…" in
// the metadata). Written to a temporary file and renamed (engine safetensors), so a crash leaves
// the previous checkpoint intact; a truncated or corrupt file is refused with lucid::IoError.
// `lucid eval` reads only the agent part, to evaluate a trained agent with any planner.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "lucid/agents/agent.h"

namespace lucid::agents {

class ReplayBuffer;

struct RunCheckpoint {
  std::string agent_name;
  AgentState agent;
  AgentState buffer;
  std::map<std::string, std::string> trainer;  // keys without the "trainer/" prefix
};

void write_run_checkpoint(const std::filesystem::path& path, const Agent& agent, const ReplayBuffer& buffer,
                          const std::map<std::string, std::string>& trainer);
RunCheckpoint read_run_checkpoint(const std::filesystem::path& path);

}  // namespace lucid::agents
