// Test helpers for multitask TD-MPC2 models (tests/models and tests/agents_tdmpc2): random weights
// and the single-task model that computes what a multitask model computes for one task, built by
// folding the task's (renormalised) embedding into each network's first-layer bias:
// b' = b + W[:, e-cols] e, W' = W without the e columns.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "lucid/engine/rng.h"
#include "lucid/models/tdmpc2/model.h"

namespace lucid::models::tdmpc2::fold_helpers {

// Random weights (the init zeroes the heads' last layers, which would hide the reward and Q
// paths), a target copy that differs from the online heads, and embedding rows of norm 0.5 except
// task `big_task`'s, of norm 3, so the max_norm renormalisation is exercised (-1: none).
inline void randomise(Tdmpc2Model& m, std::uint64_t seed, int big_task = 2) {
  Rng rng(seed);
  std::span<float> p = m.params();
  rng.normal(p.data(), p.size());
  for (float& x : p) x *= 0.1f;
  std::span<float> t = m.target_q();
  rng.normal(t.data(), t.size());
  for (float& x : t) x *= 0.1f;
  const Tdmpc2Config& c = m.config();
  for (int t = 0; t < c.num_tasks && c.multitask(); ++t) {
    float* row = p.data() + m.layout().task_emb + static_cast<std::size_t>(t) * c.task_dim;
    double ss = 0;
    for (int j = 0; j < c.task_dim; ++j) ss += static_cast<double>(row[j]) * row[j];
    const double norm = t == big_task ? 3.0 : 0.5;
    for (int j = 0; j < c.task_dim; ++j) row[j] *= static_cast<float>(norm / std::sqrt(ss));
  }
  m.bump_weights_version();
}

// Copies net `src` of the multitask model into `dst` of the single-task one, folding embedding e
// (its columns start at x_width in the first layer) into the first bias.
inline void fold_net(const Mlp& src, const float* sp, const Mlp& dst, float* dp, int x_width,
                     const std::vector<float>& e) {
  const int td = static_cast<int>(e.size());
  for (std::size_t li = 0; li < src.layers().size(); ++li) {
    const LayerSpec& s = src.layers()[li];
    const LayerSpec& d = dst.layers()[li];
    ASSERT_EQ(s.out, d.out);
    for (int o = 0; o < s.out; ++o) {
      const float* ws = sp + s.w + static_cast<std::size_t>(o) * s.in;
      float* wd = dp + d.w + static_cast<std::size_t>(o) * d.in;
      float bias = sp[s.b + o];
      if (li == 0) {
        ASSERT_EQ(d.in, s.in - td);
        for (int k = 0; k < x_width; ++k) wd[k] = ws[k];
        for (int k = 0; k < td; ++k) bias += ws[x_width + k] * e[k];
        for (int k = x_width; k < d.in; ++k) wd[k] = ws[k + td];
      } else {
        for (int k = 0; k < s.in; ++k) wd[k] = ws[k];
      }
      dp[d.b + o] = bias;
    }
    if (s.norm)
      for (int o = 0; o < s.out; ++o) {
        dp[d.gamma + o] = sp[s.gamma + o];
        dp[d.beta + o] = sp[s.beta + o];
      }
  }
}

// The single-task model that computes what `m` computes for `task`.
inline Tdmpc2Model fold(const Tdmpc2Model& m, int task) {
  Tdmpc2Config sc = m.config();
  sc.num_tasks = 1;
  sc.task_dim = 0;
  sc.task_action_dims.clear();
  Tdmpc2Model s(sc);
  std::vector<float> e(static_cast<std::size_t>(m.config().task_dim));
  m.task_embedding(task, e.data());
  const Tdmpc2Layout& ml = m.layout();
  const Tdmpc2Layout& sl = s.layout();
  float* sp = s.params().data();
  const float* mp = m.params().data();
  const int L = sc.latent_dim;
  fold_net(ml.encoder, mp + ml.encoder.begin(), sl.encoder, sp + sl.encoder.begin(), sc.obs_dim, e);
  fold_net(ml.dynamics, mp + ml.dynamics.begin(), sl.dynamics, sp + sl.dynamics.begin(), L, e);
  fold_net(ml.reward, mp + ml.reward.begin(), sl.reward, sp + sl.reward.begin(), L, e);
  fold_net(ml.pi, mp + ml.pi.begin(), sl.pi, sp + sl.pi.begin(), L, e);
  for (int h = 0; h < sc.num_q; ++h) {
    fold_net(ml.q[h], mp + ml.q[h].begin(), sl.q[h], sp + sl.q[h].begin(), L, e);
    fold_net(ml.q[h], m.target_block(h), sl.q[h], s.target_q().data() + (sl.q[h].begin() - sl.q_begin()), L,
             e);
  }
  s.bump_weights_version();
  return s;
}

}  // namespace lucid::models::tdmpc2::fold_helpers
