// Gradient-planner helpers (see action_ascent.h).
#include "lucid/planners/action_ascent.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace lucid::planners {

void clip_grad_norm_per_obs(float* grad, int H, int B, int N, int A, float max_norm) {
  const std::size_t rows = static_cast<std::size_t>(B) * N;
  for (int b = 0; b < B; ++b) {
    double sq = 0.0;
    for (int t = 0; t < H; ++t) {
      float* g = grad + (t * rows + static_cast<std::size_t>(b) * N) * A;
      for (int i = 0; i < N * A; ++i) {
        if (!std::isfinite(g[i])) g[i] = 0.f;
        sq += static_cast<double>(g[i]) * g[i];
      }
    }
    const double coef = max_norm / (std::sqrt(sq) + 1e-6);
    if (coef >= 1.0) continue;
    for (int t = 0; t < H; ++t) {
      float* g = grad + (t * rows + static_cast<std::size_t>(b) * N) * A;
      for (int i = 0; i < N * A; ++i) g[i] = static_cast<float>(g[i] * coef);
    }
  }
}

void ascend(float* actions, const float* grad, long long n, float step) {
  for (long long i = 0; i < n; ++i) actions[i] += step * grad[i];
}

int best_candidate(const float* value, int b, int N) {
  int best = 0;
  float best_v = -INFINITY;
  for (int n = 0; n < N; ++n) {
    float v = value[static_cast<std::size_t>(b) * N + n];
    if (std::isnan(v)) v = 0.f;  // torch.nan_to_num(J, 0) before the argmax
    if (v > best_v) best_v = v, best = n;
  }
  return best;
}

int pick_two_heads(int n, Rng& rng, int* heads) {
  if (n < 2) {
    heads[0] = 0;
    return 1;
  }
  const int a = std::min(static_cast<int>(rng.uniform() * static_cast<float>(n)), n - 1);
  int b = std::min(static_cast<int>(rng.uniform() * static_cast<float>(n - 1)), n - 2);
  if (b >= a) ++b;
  heads[0] = a;
  heads[1] = b;
  return 2;
}

}  // namespace lucid::planners
