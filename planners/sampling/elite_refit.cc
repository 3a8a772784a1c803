// elite_refit: weighted mean and clamped std of elite actions (see elite_refit.h).
#include "lucid/planners/elite_refit.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace lucid::planners {

void elite_refit(const float* actions, const int* elite, const float* weight, int num_elites, int action_dim,
                 float denom, float min_std, float max_std, float* mean, float* std) {
  for (int j = 0; j < action_dim; ++j) {
    float m = 0.f;
    for (int e = 0; e < num_elites; ++e)
      m += weight[e] * actions[static_cast<std::size_t>(elite[e]) * action_dim + j];
    m /= denom;
    float var = 0.f;
    for (int e = 0; e < num_elites; ++e) {
      const float d = actions[static_cast<std::size_t>(elite[e]) * action_dim + j] - m;
      var += weight[e] * d * d;
    }
    mean[j] = m;
    std[j] = std::clamp(std::sqrt(var / denom), min_std, max_std);
  }
}

}  // namespace lucid::planners
