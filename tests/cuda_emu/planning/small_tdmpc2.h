// The small TD-MPC2 that the device planning tests share: obs 7, action 3, widths 40 / 48 / 32,
// 3 Q heads, and every weight (target Q included) random with std 0.3, so LayerNorm inputs,
// logits and decoded values are far from trivial.
#pragma once

#include <cstdint>
#include <span>

#include "lucid/engine/rng.h"
#include "lucid/models/tdmpc2/model.h"

namespace lucid::testing {

inline constexpr int kSmallObs = 7, kSmallAct = 3, kSmallLatent = 32;

inline models::tdmpc2::Tdmpc2Config small_tdmpc2_config() {
  models::tdmpc2::Tdmpc2Config c;
  c.obs_dim = kSmallObs;
  c.action_dim = kSmallAct;
  c.enc_dim = 40;
  c.mlp_dim = 48;
  c.latent_dim = kSmallLatent;
  c.num_q = 3;
  return c;
}

inline void randomise_tdmpc2(models::tdmpc2::Tdmpc2Model& m, std::uint64_t seed) {
  Rng rng(seed);
  m.init(rng);
  std::span<float> p = m.params();
  rng.normal(p.data(), p.size());
  for (float& x : p) x *= 0.3f;
  std::span<float> t = m.target_q();
  rng.normal(t.data(), t.size());
  for (float& x : t) x *= 0.3f;
}

}  // namespace lucid::testing
