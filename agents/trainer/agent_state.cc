// StateReader (lucid/agents/agent.h): the checks every agent's load_state() makes on its records.
#include <algorithm>
#include <string>

#include "lucid/agents/agent.h"
#include "lucid/error.h"

namespace lucid::agents {

const std::vector<float>& StateReader::tensor(const std::string& name, std::size_t numel) const {
  for (const TensorRecord& r : state_.tensors)
    if (r.name == name) {
      LUCID_CHECK_AS(r.data.size() == numel, IoError)
          << who_ << " state: '" << name << "' has " << r.data.size() << " values, expected " << numel;
      return r.data;
    }
  LUCID_FAIL(IoError) << who_ << " state: missing tensor '" << name << "'";
}

void StateReader::copy(const std::string& name, std::span<float> dst) const {
  const std::vector<float>& v = tensor(name, dst.size());
  std::copy(v.begin(), v.end(), dst.begin());
}

std::int64_t StateReader::scalar(const std::string& key) const {
  const auto it = state_.scalars.find(key);
  LUCID_CHECK_AS(it != state_.scalars.end(), IoError) << who_ << " state: missing scalar '" << key << "'";
  return std::stoll(it->second);
}

}  // namespace lucid::agents
