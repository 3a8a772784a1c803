// BMPC world model: preset, layout, initialisation and the WorldModel queries (eval mode, no
// dropout). Every query concatenates its inputs into the calling thread's scratch MlpCache (grown
// to the largest batch that thread has seen, then reused), runs TD-MPC2's MLP forward and decodes,
// so the threads of one OpenMP team may query at once, each on its own rows. Nothing here records
// gradients; training goes through the caches of the update (agents/bmpc).
#include "lucid/models/bmpc/model.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "lucid/engine/profile.h"
#include "lucid/engine/rng.h"
#include "lucid/error.h"

namespace lucid::models::bmpc {

using tdmpc2::concat_rows;
using tdmpc2::LayerSpec;
using tdmpc2::Mlp;
using tdmpc2::mlp_forward;
using tdmpc2::ParamEntry;
using tdmpc2::ParamKind;

BmpcConfig bmpc_preset(int model_size, int obs_dim, int action_dim) {
  BmpcConfig c = tdmpc2::tdmpc2_preset(model_size, obs_dim, action_dim);
  // bmpc/config.yaml: num_q 2 (V heads), log_std_min/max -3/1.
  c.num_q = 2;
  c.log_std_min = -3.f;
  c.log_std_max = 1.f;
  return c;
}

BmpcLayout bmpc_layout(const BmpcConfig& c) {
  LUCID_CHECK_AS(!c.multitask(), ConfigError)
      << "BMPC is single-task in lucid, got " << c.num_tasks << " tasks";
  LUCID_CHECK_AS(c.num_q >= 1, ConfigError) << "BMPC needs at least one V head, got " << c.num_q;
  BmpcLayout t;
  const int za = c.latent_dim + c.action_dim;
  const std::vector<int> hidden(2, c.mlp_dim);
  const std::vector<int> enc_hidden(std::max(c.num_enc_layers - 1, 1), c.enc_dim);
  t.encoder = Mlp(t.layout, "encoder", c.obs_dim, enc_hidden, c.latent_dim, true, false, c.simnorm_dim);
  t.dynamics = Mlp(t.layout, "dynamics", za, hidden, c.latent_dim, true, false, c.simnorm_dim);
  t.reward = Mlp(t.layout, "reward", za, hidden, c.num_bins, false, false);
  // V(z): TD-MPC2's Q head with the action input removed (dropout on its first layer, as Q's).
  for (int q = 0; q < c.num_q; ++q)
    t.v.emplace_back(t.layout, "Vs." + std::to_string(q), c.latent_dim, hidden, c.num_bins, false,
                     c.dropout > 0.f);
  t.pi = Mlp(t.layout, "pi", c.latent_dim, hidden, 2 * c.action_dim, false, false);
  return t;
}

BmpcModel::BmpcModel(const BmpcConfig& cfg)
    : cfg_(cfg),
      layout_(bmpc_layout(cfg)),
      params_(layout_.layout.size(), 0.f),
      grads_(layout_.layout.size(), 0.f),
      target_v_(layout_.v_end() - layout_.v_begin(), 0.f) {
  bump_weights_version();
}

void BmpcModel::bump_weights_version() {
  // One process-wide counter (as Tdmpc2Model), tagged with bit 62 so that a BMPC version never
  // equals a TD-MPC2 one: a new model reusing a freed arena's address never meets stale panels.
  static std::atomic<std::uint64_t> next{1};
  weights_version_ = next.fetch_add(1, std::memory_order_relaxed) | (std::uint64_t{1} << 62);
}

void BmpcModel::init(Rng& rng) {
  init_params(layout_.layout, params_, rng);
  // Zero-initialised last layers of reward and every V head: predictions start at exactly 0.
  zero_output_layer(layout_.reward, params_);
  for (const Mlp& h : layout_.v) zero_output_layer(h, params_);
  std::copy(params_.begin() + static_cast<std::ptrdiff_t>(layout_.v_begin()),
            params_.begin() + static_cast<std::ptrdiff_t>(layout_.v_end()), target_v_.begin());
  bump_weights_version();
}

BmpcModel::Scratch& BmpcModel::scratch(int rows) const {
  Scratch& s = scratch_.get();
  s.enc.reserve(layout_.encoder, rows);
  s.dyn.reserve(layout_.dynamics, rows);
  s.rew.reserve(layout_.reward, rows);
  s.pi.reserve(layout_.pi, rows);
  s.v.reserve(layout_.v.front(), rows);
  if (s.decode.size() < static_cast<std::size_t>(rows)) s.decode.resize(rows);
  return s;
}

namespace {

void check_rows(const Tensor& t, std::int64_t rows, std::int64_t cols, const char* what) {
  LUCID_CHECK_SHAPE(t.defined() && t.shape().rows() == rows && t.shape().cols() == cols)
      << what << ": expected " << rows << " x " << cols << ", got "
      << (t.defined() ? t.shape().str() : std::string("undefined"));
}

}  // namespace

void BmpcModel::encode_raw(const float* obs, int rows, float* z) const {
  Scratch& s = scratch(rows);
  std::memcpy(s.enc.input(), obs, sizeof(float) * rows * cfg_.obs_dim);
  mlp_forward(layout_.encoder, block(layout_.encoder), s.enc, rows, nullptr, weights_version_);
  std::memcpy(z, s.enc.output(), sizeof(float) * rows * cfg_.latent_dim);
}

void BmpcModel::next_raw(const float* z, const float* a, int rows, float* z_next) const {
  Scratch& s = scratch(rows);
  concat_rows(z, cfg_.latent_dim, a, cfg_.action_dim, rows, s.dyn.input());
  mlp_forward(layout_.dynamics, block(layout_.dynamics), s.dyn, rows, nullptr, weights_version_);
  std::memcpy(z_next, s.dyn.output(), sizeof(float) * rows * cfg_.latent_dim);
}

void BmpcModel::reward_raw(const float* z, const float* a, int rows, float* r) const {
  Scratch& s = scratch(rows);
  concat_rows(z, cfg_.latent_dim, a, cfg_.action_dim, rows, s.rew.input());
  mlp_forward(layout_.reward, block(layout_.reward), s.rew, rows, nullptr, weights_version_);
  tdmpc2::two_hot_inv_rows(s.rew.output(), rows, cfg_, r);
}

void BmpcModel::v_raw(const float* z, int rows, std::span<const int> heads, bool use_target, float* v) const {
  Scratch& s = scratch(rows);
  std::memcpy(s.v.input(), z, sizeof(float) * rows * cfg_.latent_dim);
  std::fill(v, v + rows, 0.f);
  const int n = heads.empty() ? cfg_.num_q : static_cast<int>(heads.size());
  const float w = 1.f / static_cast<float>(n);
  for (int i = 0; i < n; ++i) {
    const int h = heads.empty() ? i : heads[i];
    LUCID_CHECK(h >= 0 && h < cfg_.num_q) << "V head " << h << " out of range [0, " << cfg_.num_q << ")";
    const float* p = use_target ? target_block(h) : block(layout_.v[h]);
    mlp_forward(layout_.v[h], p, s.v, rows, nullptr, weights_version_);
    tdmpc2::two_hot_inv_rows(s.v.output(), rows, cfg_, s.decode.data());
    for (int r = 0; r < rows; ++r) v[r] += w * s.decode[r];
  }
}

void BmpcModel::pi_dist_raw(const float* z, int rows, float* mean, float* log_std) const {
  Scratch& s = scratch(rows);
  const int A = cfg_.action_dim;
  std::memcpy(s.pi.input(), z, sizeof(float) * rows * cfg_.latent_dim);
  mlp_forward(layout_.pi, block(layout_.pi), s.pi, rows, nullptr, weights_version_);
  const float* out = s.pi.output();
  for (int r = 0; r < rows; ++r) {
    const float* o = out + static_cast<std::size_t>(r) * 2 * A;
    for (int j = 0; j < A; ++j) {
      const std::size_t i = static_cast<std::size_t>(r) * A + j;
      if (mean) mean[i] = std::tanh(o[j]);
      if (log_std) log_std[i] = bmpc_log_std(o[A + j], cfg_);
    }
  }
}

void BmpcModel::pi_action_raw(const float* z, const float* eps, int rows, float* action) const {
  Scratch& s = scratch(rows);
  const int A = cfg_.action_dim;
  std::memcpy(s.pi.input(), z, sizeof(float) * rows * cfg_.latent_dim);
  mlp_forward(layout_.pi, block(layout_.pi), s.pi, rows, nullptr, weights_version_);
  const float* out = s.pi.output();
  for (int r = 0; r < rows; ++r) {
    const float* o = out + static_cast<std::size_t>(r) * 2 * A;
    for (int j = 0; j < A; ++j) {
      const std::size_t i = static_cast<std::size_t>(r) * A + j;
      float a = std::tanh(o[j]);
      if (eps) a += eps[i] * std::exp(bmpc_log_std(o[A + j], cfg_));
      action[i] = std::clamp(a, -1.f, 1.f);
    }
  }
}

void BmpcModel::encode_into(const Tensor& obs, const Tensor& z) const {
  const ProfileRange range("model/encoder");
  const std::int64_t rows = obs.shape().rows();
  check_rows(obs, rows, cfg_.obs_dim, "BMPC encode obs");
  check_rows(z, rows, cfg_.latent_dim, "BMPC encode z");
  encode_raw(obs.data(), static_cast<int>(rows), z.data());
}

void BmpcModel::next_into(const Tensor& z, const Tensor& a, const Tensor& z_next) const {
  const ProfileRange range("model/dynamics");
  const std::int64_t rows = z.shape().rows();
  check_rows(z, rows, cfg_.latent_dim, "BMPC next z");
  check_rows(a, rows, cfg_.action_dim, "BMPC next a");
  check_rows(z_next, rows, cfg_.latent_dim, "BMPC next z'");
  next_raw(z.data(), a.data(), static_cast<int>(rows), z_next.data());
}

void BmpcModel::reward_into(const Tensor& z, const Tensor& a, const Tensor& r) const {
  const ProfileRange range("model/reward");
  const std::int64_t rows = z.shape().rows();
  check_rows(z, rows, cfg_.latent_dim, "BMPC reward z");
  check_rows(a, rows, cfg_.action_dim, "BMPC reward a");
  check_rows(r, rows, 1, "BMPC reward r");
  reward_raw(z.data(), a.data(), static_cast<int>(rows), r.data());
}

void BmpcModel::step_from_shared_into(const Tensor& z_shared, const Tensor& z, const Tensor& a,
                                      const Tensor& r, const Tensor& z_next) const {
  const ProfileRange range("model/dynamics");  // with the reward: they share the first layer's input
  const std::int64_t rows = a.shape().rows();
  check_rows(z_shared, 1, cfg_.latent_dim, "BMPC step shared z");
  check_rows(z, rows, cfg_.latent_dim, "BMPC step z");
  check_rows(a, rows, cfg_.action_dim, "BMPC step a");
  check_rows(r, rows, 1, "BMPC step r");
  check_rows(z_next, rows, cfg_.latent_dim, "BMPC step z'");
  const int n = static_cast<int>(rows);
  Scratch& s = scratch(n);
  tdmpc2::mlp_forward_shared_prefix(layout_.reward, block(layout_.reward), s.rew, n, z_shared.data(),
                                    cfg_.latent_dim, a.data(), weights_version_);
  tdmpc2::two_hot_inv_rows(s.rew.output(), n, cfg_, r.data());
  tdmpc2::mlp_forward_shared_prefix(layout_.dynamics, block(layout_.dynamics), s.dyn, n, z_shared.data(),
                                    cfg_.latent_dim, a.data(), weights_version_);
  std::memcpy(z_next.data(), s.dyn.output(), sizeof(float) * rows * cfg_.latent_dim);
}

void BmpcModel::value_into(const Tensor& z, const Tensor& /*a*/, std::span<const int> heads,
                           const Tensor& v) const {
  const ProfileRange range("model/value");
  const std::int64_t rows = z.shape().rows();
  check_rows(z, rows, cfg_.latent_dim, "BMPC V z");
  check_rows(v, rows, 1, "BMPC V v");
  v_raw(z.data(), static_cast<int>(rows), heads, false, v.data());
}

void BmpcModel::value_ensemble_into(const Tensor& z, const Tensor& /*a*/, const Tensor& vs) const {
  const ProfileRange range("model/value");
  const std::int64_t rows = z.shape().rows();
  check_rows(z, rows, cfg_.latent_dim, "BMPC V ensemble z");
  LUCID_CHECK_SHAPE(vs.defined() && vs.numel() == rows * cfg_.num_q)
      << "BMPC V ensemble: expected (" << cfg_.num_q << ", " << rows << ", 1)";
  for (int h = 0; h < cfg_.num_q; ++h) {
    const int head[1] = {h};
    v_raw(z.data(), static_cast<int>(rows), head, false, vs.data() + static_cast<std::size_t>(h) * rows);
  }
}

void BmpcModel::policy_into(const Tensor& z, const Tensor& mean, const Tensor& log_std) const {
  const ProfileRange range("model/policy");
  const std::int64_t rows = z.shape().rows();
  check_rows(z, rows, cfg_.latent_dim, "BMPC pi z");
  check_rows(mean, rows, cfg_.action_dim, "BMPC pi mean");
  check_rows(log_std, rows, cfg_.action_dim, "BMPC pi log_std");
  pi_dist_raw(z.data(), static_cast<int>(rows), mean.data(), log_std.data());
}

void BmpcModel::policy_action_into(const Tensor& z, const Tensor& eps, const Tensor& action) const {
  const ProfileRange range("model/policy");
  const std::int64_t rows = z.shape().rows();
  check_rows(z, rows, cfg_.latent_dim, "BMPC pi z");
  check_rows(action, rows, cfg_.action_dim, "BMPC pi action");
  if (eps.defined()) check_rows(eps, rows, cfg_.action_dim, "BMPC pi eps");
  pi_action_raw(z.data(), eps.defined() ? eps.data() : nullptr, static_cast<int>(rows), action.data());
}

}  // namespace lucid::models::bmpc
