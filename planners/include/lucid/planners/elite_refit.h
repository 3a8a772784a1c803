// The refit step shared by the sampling planners (MPPI, CEM): the mean and standard deviation
// of the elite action sequences, each elite weighted by its score.
//
// Shapes: `actions` holds S candidate actions of one planning step for one batch row, (S, A)
// row-major; `elite[e]` (e < K) indexes into it; `weight[e]` is elite e's weight and `denom` the
// normaliser (the weights' sum, plus MPPI's 1e-9). Writes (=) mean[A] and std[A], the std clamped
// to [min_std, max_std].
#pragma once

namespace lucid::planners {

void elite_refit(const float* actions, const int* elite, const float* weight, int num_elites, int action_dim,
                 float denom, float min_std, float max_std, float* mean, float* std);

}  // namespace lucid::planners
