// Run checkpoints: agent + replay buffer + trainer counters in one safetensors file (see
// run_checkpoint.h for the naming).
#include "lucid/agents/run_checkpoint.h"

#include "lucid/agents/replay_buffer.h"
#include "lucid/engine/safetensors.h"
#include "lucid/error.h"

namespace lucid::agents {
namespace {
constexpr const char* kAgent = "agent/";
constexpr const char* kBuffer = "buffer/";
constexpr const char* kTrainer = "trainer/";
bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
}  // namespace

void write_run_checkpoint(const std::filesystem::path& path, const Agent& agent, const ReplayBuffer& buffer,
                          const std::map<std::string, std::string>& trainer) {
  std::vector<TensorRecord> tensors;
  std::map<std::string, std::string> meta;
  AgentState a = agent.state();
  for (auto& t : a.tensors) {
    t.name = kAgent + t.name;
    tensors.push_back(std::move(t));
  }
  for (auto& [k, v] : a.scalars) meta[kAgent + k] = v;
  AgentState b = buffer.state();  // its names already carry "buffer/"
  for (auto& t : b.tensors) tensors.push_back(std::move(t));
  for (auto& [k, v] : b.scalars) meta[k] = v;
  for (const auto& [k, v] : trainer) meta[kTrainer + k] = v;
  meta["agent_name"] = agent.name();
  save_safetensors(path, tensors, meta);
}

RunCheckpoint read_run_checkpoint(const std::filesystem::path& path) {
  LUCID_CHECK_AS(std::filesystem::exists(path), IoError) << "no checkpoint at " << path.string();
  SafetensorsFile f = load_safetensors(path);
  RunCheckpoint c;
  auto name = f.metadata.find("agent_name");
  LUCID_CHECK_AS(name != f.metadata.end(), IoError)
      << path.string() << " is not a lucid run checkpoint (no agent_name)";
  c.agent_name = name->second;
  for (auto& t : f.tensors) {
    if (starts_with(t.name, kAgent)) {
      t.name = t.name.substr(std::string(kAgent).size());
      c.agent.tensors.push_back(std::move(t));
    } else if (starts_with(t.name, kBuffer)) {
      c.buffer.tensors.push_back(std::move(t));
    }
  }
  for (const auto& [k, v] : f.metadata) {
    if (starts_with(k, kAgent)) c.agent.scalars[k.substr(std::string(kAgent).size())] = v;
    if (starts_with(k, kBuffer)) c.buffer.scalars[k] = v;
    if (starts_with(k, kTrainer)) c.trainer[k.substr(std::string(kTrainer).size())] = v;
  }
  return c;
}

}  // namespace lucid::agents
