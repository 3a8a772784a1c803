// The planner registry: one line per planner, name -> constructor.
#include <functional>
#include <sstream>
#include <utility>

#include "lucid/error.h"
#include "lucid/planners/cem.h"
#include "lucid/planners/dream_mpc.h"
#include "lucid/planners/grad_mpc.h"
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
      {"dream-mpc", [](const PlannerConfig& c) { return std::make_unique<DreamMpc>(c); }},
      {"grad-mpc",
       [](const PlannerConfig& c) { return std::make_unique<GradMpc>(c, GradMpc::Init::kGaussian); }},
      {"policy-grad-mpc",
       [](const PlannerConfig& c) { return std::make_unique<GradMpc>(c, GradMpc::Init::kPolicy); }},
      {"cem", [](const PlannerConfig& c) { return std::make_unique<Cem>(c); }},
  };
  return kRegistry;
}

}  // namespace

std::vector<std::string> planner_names() {
  std::vector<std::string> names;
  for (const auto& [name, make] : registry()) names.push_back(name);
  return names;
}

PlannerConfig planner_defaults(const std::string& name) {
  PlannerConfig c;  // MPPI's and the policy's are the struct's own (TD-MPC2 config.yaml)
  c.name = name;
  if (name == "dream-mpc") {  // facts/dream_mpc.md §1.2
    c.num_pi_trajs = 5;
    c.iterations = 1;
  } else if (name == "grad-mpc") {  // Grad-MPC appendix A.7
    c.horizon = 12;
    c.iterations = 40;
    c.num_samples = 1000;
  } else if (name == "policy-grad-mpc") {  // Grad-MPC Table 5: horizon 1, one candidate
    c.horizon = 1;
    c.num_pi_trajs = 1;
    c.iterations = 10;         // not in Table 5; a few steps of Eq. (6)
  } else if (name == "cem") {  // PlaNet: 1000 candidates, top 100, 10 iterations, horizon 12
    c.horizon = 12;
    c.iterations = 10;
    c.num_samples = 1000;
    c.num_elites = 100;
    c.temperature = 0.f;  // uniform refit over the elites, as PlaNet
  }
  return c;
}

std::unique_ptr<Planner> make_planner(const PlannerConfig& config) {
  for (const auto& [name, make] : registry())
    if (name == config.name) return make(config);
  std::ostringstream known;
  for (const auto& [name, make] : registry()) known << " " << name;
  LUCID_FAIL(ConfigError) << "unknown planner '" << config.name << "'; known:" << known.str();
}

}  // namespace lucid::planners
