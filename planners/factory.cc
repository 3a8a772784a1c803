// The planner registry: one line per planner, name -> constructor.
#include <functional>
#include <sstream>
#include <utility>

#include "lucid/error.h"
#include "lucid/planners/mppi.h"
#include "lucid/planners/planner.h"
#include "lucid/planners/policy_planner.h"

namespace lucid::planners {
namespace {

using Factory = std::function<std::unique_ptr<Planner>(const PlannerConfig&)>;

const std::vector<std::pair<std::string, Factory>>& registry() {
  static const std::vector<std::pair<std::string, Factory>> kRegistry = {
      {"mppi", [](const PlannerConfig& c) { return std::make_unique<Mppi>(c); }},
      {"policy", [](const PlannerConfig& c) { return std::make_unique<PolicyPlanner>(c); }},
  };
  return kRegistry;
}

}  // namespace

std::vector<std::string> planner_names() {
  std::vector<std::string> names;
  for (const auto& [name, make] : registry()) names.push_back(name);
  return names;
}

std::unique_ptr<Planner> make_planner(const PlannerConfig& config) {
  for (const auto& [name, make] : registry())
    if (name == config.name) return make(config);
  std::ostringstream known;
  for (const auto& [name, make] : registry()) known << " " << name;
  LUCID_FAIL(ConfigError) << "unknown planner '" << config.name << "'; known:" << known.str();
}

}  // namespace lucid::planners
