// GRU gate math for one hidden unit (facts/dream_mpc.md §4), shared by CPU and CUDA kernels.
//
// gru_torch_*: PyTorch nn.GRUCell form (a): inputs are the pre-activations gi = W_i x + b_i and
// gh = W_h h + b_h for gates [r, z, n]; n = tanh(gi_n + r * gh_n); h' = (1 - z) n + z h.
// gru_ln_*: DreamerV3 form (c): inputs are the LayerNormed projections [reset, cand, update];
// c = tanh(sigmoid(reset) * cand); u = sigmoid(update - 1); h' = u c + (1 - u) h.
// Backward functions return d/d(pre-activations) and d/dh given dh' = g.
#pragma once

#include <cmath>

#include "hd/activations.h"
#include "hd/hd.h"

namespace lucid::hd {

LUCID_HD inline float gru_torch_forward(float gi_r, float gi_z, float gi_n, float gh_r, float gh_z,
                                        float gh_n, float h) {
  const float r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z);
  const float n = tanhf(gi_n + r * gh_n);
  return (1.f - z) * n + z * h;
}

struct GruTorchGrads {
  float d_r, d_z;  // d loss / d (gi_r + gh_r), d (gi_z + gh_z): same for the gi and gh parts
  float d_gi_n, d_gh_n, d_h;
};

LUCID_HD inline GruTorchGrads gru_torch_backward(float gi_r, float gi_z, float gi_n, float gh_r, float gh_z,
                                                 float gh_n, float h, float g) {
  const float r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z);
  const float n = tanhf(gi_n + r * gh_n);
  const float dn = g * (1.f - z);
  const float dn_pre = dn * (1.f - n * n);
  GruTorchGrads o;
  o.d_z = g * (h - n) * z * (1.f - z);
  o.d_r = dn_pre * gh_n * r * (1.f - r);
  o.d_gi_n = dn_pre;
  o.d_gh_n = dn_pre * r;
  o.d_h = g * z;
  return o;
}

LUCID_HD inline float gru_ln_forward(float reset, float cand, float update, float h) {
  const float c = tanhf(sigmoid(reset) * cand);
  const float u = sigmoid(update - 1.f);
  return u * c + (1.f - u) * h;
}

struct GruLnGrads {
  float d_reset, d_cand, d_update, d_h;
};

LUCID_HD inline GruLnGrads gru_ln_backward(float reset, float cand, float update, float h, float g) {
  const float r = sigmoid(reset);
  const float c = tanhf(r * cand);
  const float u = sigmoid(update - 1.f);
  const float dc_pre = g * u * (1.f - c * c);
  GruLnGrads o;
  o.d_reset = dc_pre * cand * r * (1.f - r);
  o.d_cand = dc_pre * r;
  o.d_update = g * (c - h) * u * (1.f - u);
  o.d_h = g * (1.f - u);
  return o;
}

}  // namespace lucid::hd
