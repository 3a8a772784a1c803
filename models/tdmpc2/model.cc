// TD-MPC2 world model: presets, layout, initialisation and the WorldModel queries (eval mode).
//
// On Device::kCuda tensors every query hands over to the device twin (model_cuda.cc).
// Every query concatenates its inputs (with the task embedding and the masked action, multitask)
// into the first layer's input buffer of a scratch MlpCache (grown to the largest batch seen, then
// reused), runs the MLP and decodes. Nothing here records gradients; training goes through the
// caches of the update (agents/tdmpc2).
#include "lucid/models/tdmpc2/model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "hd/activations.h"
#include "hd/symlog.h"
#include "lucid/engine/profile.h"
#include "lucid/engine/rng.h"
#include "lucid/error.h"
#include "lucid/kernels/threading.h"
#include "lucid/models/tdmpc2/model_cuda.h"

namespace lucid::models::tdmpc2 {

void apply_overrides(Tdmpc2Config& c, const ArchitectureOverrides& o) {
  LUCID_CHECK_AS(o.enc_dim >= 0 && o.mlp_dim >= 0 && o.latent_dim >= 0 && (o.num_q == 0 || o.num_q >= 2),
                 ConfigError)
      << "tdmpc2: architecture overrides must be >= 0 (0 keeps the preset) and num_q >= 2, got enc_dim "
      << o.enc_dim << ", mlp_dim " << o.mlp_dim << ", latent_dim " << o.latent_dim << ", num_q " << o.num_q;
  if (o.enc_dim > 0) c.enc_dim = o.enc_dim;
  if (o.mlp_dim > 0) c.mlp_dim = o.mlp_dim;
  if (o.latent_dim > 0) c.latent_dim = o.latent_dim;
  if (o.num_q > 0) c.num_q = o.num_q;
  LUCID_CHECK_AS(c.latent_dim % c.simnorm_dim == 0, ConfigError)
      << "tdmpc2: latent_dim " << c.latent_dim << " must be a multiple of simnorm_dim " << c.simnorm_dim;
}

Tdmpc2Config tdmpc2_preset(int model_size, int obs_dim, int action_dim, int num_tasks) {
  LUCID_CHECK_AS(obs_dim > 0 && action_dim > 0, ConfigError)
      << "TD-MPC2 needs positive obs and action dims, got " << obs_dim << " and " << action_dim;
  Tdmpc2Config c;
  c.obs_dim = obs_dim;
  c.action_dim = action_dim;
  c.model_size = model_size;
  c.num_tasks = num_tasks;
  // tdmpc2/common/__init__.py MODEL_SIZE.
  switch (model_size) {
    case 1:
      c.enc_dim = 256, c.mlp_dim = 384, c.latent_dim = 128, c.num_enc_layers = 2, c.num_q = 2;
      break;
    case 5:
      c.enc_dim = 256, c.mlp_dim = 512, c.latent_dim = 512, c.num_enc_layers = 2, c.num_q = 5;
      break;
    case 19:
      c.enc_dim = 1024, c.mlp_dim = 1024, c.latent_dim = 768, c.num_enc_layers = 3, c.num_q = 5;
      break;
    case 48:
      c.enc_dim = 1792, c.mlp_dim = 1792, c.latent_dim = 768, c.num_enc_layers = 4, c.num_q = 5;
      break;
    case 317:
      c.enc_dim = 4096, c.mlp_dim = 4096, c.latent_dim = 1376, c.num_enc_layers = 5, c.num_q = 8;
      break;
    default:
      LUCID_FAIL(ConfigError) << "model_size must be one of 1, 5, 19, 48, 317; got " << model_size;
  }
  if (num_tasks > 1) {
    // parser.py: task_dim 96 for mt80 or sizes {1, 317}, else 64; mt30 at 19M uses latent 512.
    c.task_dim = (num_tasks == 80 || model_size == 1 || model_size == 317) ? 96 : 64;
    if (num_tasks == 30 && model_size == 19) c.latent_dim = 512;
    c.task_action_dims.assign(num_tasks, action_dim);
  }
  return c;
}

Tdmpc2Layout tdmpc2_layout(const Tdmpc2Config& c) {
  Tdmpc2Layout t;
  const int td = c.task_dim;
  const int za = c.latent_dim + c.action_dim + td;
  const std::vector<int> hidden(2, c.mlp_dim);
  // Encoder: mlp(obs + task, max(num_enc_layers - 1, 1) * [enc_dim], latent, act=SimNorm).
  const std::vector<int> enc_hidden(std::max(c.num_enc_layers - 1, 1), c.enc_dim);
  t.encoder = Mlp(t.layout, "encoder", c.obs_dim + td, enc_hidden, c.latent_dim, true, false, c.simnorm_dim);
  t.dynamics = Mlp(t.layout, "dynamics", za, hidden, c.latent_dim, true, false, c.simnorm_dim);
  t.reward = Mlp(t.layout, "reward", za, hidden, c.num_bins, false, false);
  for (int q = 0; q < c.num_q; ++q)
    t.q.emplace_back(t.layout, "Qs." + std::to_string(q), za, hidden, c.num_bins, false, c.dropout > 0.f);
  t.pi = Mlp(t.layout, "pi", c.latent_dim + td, hidden, 2 * c.action_dim, false, false);
  if (c.multitask())
    t.task_emb = t.layout.add("task_emb.weight", {c.num_tasks, c.task_dim}, ParamKind::kEmbedding);
  return t;
}

Tdmpc2Model::Tdmpc2Model(const Tdmpc2Config& cfg)
    : cfg_(cfg),
      layout_(tdmpc2_layout(cfg)),
      params_(layout_.layout.size(), 0.f),
      grads_(layout_.layout.size(), 0.f),
      target_q_(layout_.q_end() - layout_.q_begin(), 0.f) {
  if (cfg_.multitask()) {
    LUCID_CHECK_AS(cfg_.task_dim > 0 && static_cast<int>(cfg_.task_action_dims.size()) == cfg_.num_tasks,
                   ConfigError)
        << "TD-MPC2 multitask: task_dim " << cfg_.task_dim << " and " << cfg_.task_action_dims.size()
        << " action dims for " << cfg_.num_tasks << " tasks";
    for (int d : cfg_.task_action_dims)
      LUCID_CHECK_AS(d >= 1 && d <= cfg_.action_dim, ConfigError)
          << "TD-MPC2 multitask: a task's action dims must be in [1, " << cfg_.action_dim << "], got " << d;
  }
  action_masks_.assign(static_cast<std::size_t>(cfg_.num_tasks) * cfg_.action_dim, 0.f);
  for (int t = 0; t < cfg_.num_tasks; ++t)
    std::fill_n(action_masks_.begin() + static_cast<std::ptrdiff_t>(t) * cfg_.action_dim,
                cfg_.task_action_dim(t), 1.f);
  bump_weights_version();
}

void Tdmpc2Model::bump_weights_version() {
  static std::atomic<std::uint64_t> next{1};
  weights_version_ = next.fetch_add(1, std::memory_order_relaxed);
}

void Tdmpc2Model::init(Rng& rng) {
  init_params(layout_.layout, params_, rng);
  // Zero-initialised last layers of reward and every Q head: predictions start at exactly 0.
  zero_output_layer(layout_.reward, params_);
  for (const Mlp& h : layout_.q) zero_output_layer(h, params_);
  std::copy(params_.begin() + static_cast<std::ptrdiff_t>(layout_.q_begin()),
            params_.begin() + static_cast<std::ptrdiff_t>(layout_.q_end()), target_q_.begin());
  bump_weights_version();
}

namespace {

// torch.embedding_renorm_ with max_norm 1, p 2: the factor a looked-up row is scaled by.
float renorm_scale(const float* row, int n) {
  double ss = 0.0;
  for (int j = 0; j < n; ++j) ss += static_cast<double>(row[j]) * row[j];
  const double norm = std::sqrt(ss);
  return norm > 1.0 ? static_cast<float>(1.0 / (norm + 1e-7)) : 1.f;
}

}  // namespace

void Tdmpc2Model::set_task(int task) {
  LUCID_CHECK(task >= 0 && task < cfg_.num_tasks)
      << "TD-MPC2 task " << task << " out of range [0, " << cfg_.num_tasks << ")";
  renorm_task_embeddings(std::span<const int>(&task, 1));
  task_ = task;
}

void Tdmpc2Model::renorm_task_embeddings(std::span<const int> tasks) {
  if (!cfg_.multitask()) return;
  bool changed = false;
  for (int t : tasks) {
    LUCID_CHECK(t >= 0 && t < cfg_.num_tasks)
        << "TD-MPC2 task " << t << " out of range [0, " << cfg_.num_tasks << ")";
    float* row = params_.data() + layout_.task_emb + static_cast<std::size_t>(t) * cfg_.task_dim;
    const float s = renorm_scale(row, cfg_.task_dim);
    if (s == 1.f) continue;
    for (int j = 0; j < cfg_.task_dim; ++j) row[j] *= s;
    changed = true;
  }
  if (changed) bump_weights_version();
}

void Tdmpc2Model::task_embedding(int task, float* out) const {
  LUCID_CHECK(cfg_.multitask() && task >= 0 && task < cfg_.num_tasks)
      << "TD-MPC2 task embedding of task " << task << " (" << cfg_.num_tasks << " tasks)";
  const float* row = params_.data() + layout_.task_emb + static_cast<std::size_t>(task) * cfg_.task_dim;
  const float s = renorm_scale(row, cfg_.task_dim);
  for (int j = 0; j < cfg_.task_dim; ++j) out[j] = s == 1.f ? row[j] : row[j] * s;
}

void Tdmpc2Model::input_rows(const float* x, int xw, const float* a, const int* tasks, int rows,
                             float* dst) const {
  const int A = a ? cfg_.action_dim : 0;
  if (!cfg_.multitask()) {
    if (a)
      concat_rows(x, xw, a, A, rows, dst);
    else
      std::memcpy(dst, x, sizeof(float) * static_cast<std::size_t>(rows) * xw);
    return;
  }
  const int td = cfg_.task_dim, w = xw + td + A;
  int last = -1;  // rows of one task share the embedding computed for the first of them
  for (int r = 0; r < rows; ++r) {
    const int t = task_or_current(tasks, r);
    float* d = dst + static_cast<std::size_t>(r) * w;
    std::memcpy(d, x + static_cast<std::size_t>(r) * xw, sizeof(float) * xw);
    if (t == last) {
      std::memcpy(d + xw, d - w + xw, sizeof(float) * td);
    } else {
      task_embedding(t, d + xw);
      last = t;
    }
    if (a) {
      const float* ar = a + static_cast<std::size_t>(r) * A;
      const float* mask = action_mask(t);
      for (int j = 0; j < A; ++j) d[xw + td + j] = mask[j] * ar[j];
    }
  }
}

Tdmpc2Model::Scratch& Tdmpc2Model::scratch(int rows) const {
  Scratch& s = scratch_.get();
  s.enc.reserve(layout_.encoder, rows);
  s.dyn.reserve(layout_.dynamics, rows);
  s.rew.reserve(layout_.reward, rows);
  s.pi.reserve(layout_.pi, rows);
  s.q.reserve(layout_.q.front(), rows);
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

void Tdmpc2Model::encode_raw(const float* obs, int rows, float* z, const int* tasks) const {
  Scratch& s = scratch(rows);
  input_rows(obs, cfg_.obs_dim, nullptr, tasks, rows, s.enc.input());
  mlp_forward(layout_.encoder, block(layout_.encoder), s.enc, rows, nullptr, weights_version_);
  std::memcpy(z, s.enc.output(), sizeof(float) * rows * cfg_.latent_dim);
}

void Tdmpc2Model::next_raw(const float* z, const float* a, int rows, float* z_next, const int* tasks) const {
  Scratch& s = scratch(rows);
  input_rows(z, cfg_.latent_dim, a, tasks, rows, s.dyn.input());
  mlp_forward(layout_.dynamics, block(layout_.dynamics), s.dyn, rows, nullptr, weights_version_);
  std::memcpy(z_next, s.dyn.output(), sizeof(float) * rows * cfg_.latent_dim);
}

void Tdmpc2Model::reward_raw(const float* z, const float* a, int rows, float* r, const int* tasks) const {
  Scratch& s = scratch(rows);
  input_rows(z, cfg_.latent_dim, a, tasks, rows, s.rew.input());
  mlp_forward(layout_.reward, block(layout_.reward), s.rew, rows, nullptr, weights_version_);
  two_hot_inv_rows(s.rew.output(), rows, cfg_, r);
}

void Tdmpc2Model::q_raw(const float* z, const float* a, int rows, std::span<const int> heads, bool use_target,
                        float* v, const int* tasks) const {
  Scratch& s = scratch(rows);
  std::vector<int> all;
  if (heads.empty()) {
    for (int h = 0; h < cfg_.num_q; ++h) all.push_back(h);
    heads = all;
  }
  input_rows(z, cfg_.latent_dim, a, tasks, rows, s.q.input());
  std::fill(v, v + rows, 0.f);
  const float w = 1.f / static_cast<float>(heads.size());
  for (int h : heads) {
    LUCID_CHECK(h >= 0 && h < cfg_.num_q) << "Q head " << h << " out of range [0, " << cfg_.num_q << ")";
    const float* p = use_target ? target_block(h) : block(layout_.q[h]);
    mlp_forward(layout_.q[h], p, s.q, rows, nullptr, weights_version_);
    two_hot_inv_rows(s.q.output(), rows, cfg_, s.decode.data());
    for (int r = 0; r < rows; ++r) v[r] += w * s.decode[r];
  }
}

void Tdmpc2Model::pi_action_raw(const float* z, const float* eps, int rows, float* action,
                                const int* tasks) const {
  Scratch& s = scratch(rows);
  input_rows(z, cfg_.latent_dim, nullptr, tasks, rows, s.pi.input());
  mlp_forward(layout_.pi, block(layout_.pi), s.pi, rows, nullptr, weights_version_);
  pi_action_from_output(s.pi.output(), eps, rows, action, tasks);
}

void Tdmpc2Model::pi_action_from_output(const float* out, const float* eps, int rows, float* action,
                                        const int* tasks) const {
  const int A = cfg_.action_dim;
  const float dif = cfg_.log_std_max - cfg_.log_std_min;
  for (int r = 0; r < rows; ++r) {
    const float* mu = out + static_cast<std::size_t>(r) * 2 * A;
    float* act = action + static_cast<std::size_t>(r) * A;
    // Official masking: mean, log_std and eps are all multiplied by the mask, so a padded dim's
    // pre-tanh action is 0 + 0 * exp(0) = 0.
    const int valid = cfg_.task_action_dim(task_or_current(tasks, r));
    for (int j = 0; j < A; ++j) {
      if (j >= valid) {
        act[j] = 0.f;
        continue;
      }
      float x = mu[j];
      if (eps) {
        const float log_std = cfg_.log_std_min + 0.5f * dif * (std::tanh(mu[A + j]) + 1.f);
        x += eps[static_cast<std::size_t>(r) * A + j] * std::exp(log_std);
      }
      act[j] = std::tanh(x);
    }
  }
}

void Tdmpc2Model::encode_into(const Tensor& obs, const Tensor& z) const {
  const ProfileRange range("model/encoder");
  const std::int64_t rows = obs.shape().rows();
  check_rows(obs, rows, cfg_.obs_dim, "TD-MPC2 encode obs");
  check_rows(z, rows, cfg_.latent_dim, "TD-MPC2 encode z");
  if (on_cuda({obs, z}, "encode")) return cuda_twin().encode(obs.data(), static_cast<int>(rows), z.data());
  encode_raw(obs.data(), static_cast<int>(rows), z.data());
}

void Tdmpc2Model::next_into(const Tensor& z, const Tensor& a, const Tensor& z_next) const {
  const ProfileRange range("model/dynamics");
  const std::int64_t rows = z.shape().rows();
  check_rows(z, rows, cfg_.latent_dim, "TD-MPC2 next z");
  check_rows(a, rows, cfg_.action_dim, "TD-MPC2 next a");
  check_rows(z_next, rows, cfg_.latent_dim, "TD-MPC2 next z'");
  if (on_cuda({z, a, z_next}, "next"))
    return cuda_twin().next(z.data(), a.data(), static_cast<int>(rows), z_next.data());
  next_raw(z.data(), a.data(), static_cast<int>(rows), z_next.data());
}

void Tdmpc2Model::reward_into(const Tensor& z, const Tensor& a, const Tensor& r) const {
  const ProfileRange range("model/reward");
  const std::int64_t rows = z.shape().rows();
  check_rows(z, rows, cfg_.latent_dim, "TD-MPC2 reward z");
  check_rows(a, rows, cfg_.action_dim, "TD-MPC2 reward a");
  check_rows(r, rows, 1, "TD-MPC2 reward r");
  if (on_cuda({z, a, r}, "reward"))
    return cuda_twin().reward(z.data(), a.data(), static_cast<int>(rows), r.data());
  reward_raw(z.data(), a.data(), static_cast<int>(rows), r.data());
}

void Tdmpc2Model::step_from_shared_into(const Tensor& z_shared, const Tensor& z, const Tensor& a,
                                        const Tensor& r, const Tensor& z_next) const {
  const std::int64_t rows = a.shape().rows();
  check_rows(z_shared, 1, cfg_.latent_dim, "TD-MPC2 step shared z");
  check_rows(z, rows, cfg_.latent_dim, "TD-MPC2 step z");
  check_rows(a, rows, cfg_.action_dim, "TD-MPC2 step a");
  check_rows(r, rows, 1, "TD-MPC2 step r");
  check_rows(z_next, rows, cfg_.latent_dim, "TD-MPC2 step z'");
  const int n = static_cast<int>(rows);
  const ProfileRange range("model/dynamics");  // with the reward: they share the first layer's input
  if (on_cuda({z_shared, z, a, r, z_next}, "step"))
    return cuda_twin().step_from_shared(z_shared.data(), a.data(), n, r.data(), z_next.data());
  Scratch& s = scratch(n);
  // The shared prefix is [z | e(task)] multitask (one task for every row), and the per-row rest the
  // masked action.
  const float* shared = z_shared.data();
  const float* act = a.data();
  int shared_dim = cfg_.latent_dim;
  if (cfg_.multitask()) {
    shared_dim += cfg_.task_dim;
    s.shared.resize(static_cast<std::size_t>(shared_dim));
    std::memcpy(s.shared.data(), shared, sizeof(float) * cfg_.latent_dim);
    task_embedding(task_, s.shared.data() + cfg_.latent_dim);
    shared = s.shared.data();
    const int A = cfg_.action_dim;
    s.masked_a.resize(static_cast<std::size_t>(n) * A);
    const float* mask = action_mask(task_);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < A; ++j) s.masked_a[static_cast<std::size_t>(i) * A + j] = mask[j] * act[i * A + j];
    act = s.masked_a.data();
  }
  mlp_forward_shared_prefix(layout_.reward, block(layout_.reward), s.rew, n, shared, shared_dim, act,
                            weights_version_);
  two_hot_inv_rows(s.rew.output(), n, cfg_, r.data());
  mlp_forward_shared_prefix(layout_.dynamics, block(layout_.dynamics), s.dyn, n, shared, shared_dim, act,
                            weights_version_);
  std::memcpy(z_next.data(), s.dyn.output(), sizeof(float) * rows * cfg_.latent_dim);
}

void Tdmpc2Model::value_into(const Tensor& z, const Tensor& a, std::span<const int> heads,
                             const Tensor& v) const {
  const ProfileRange range("model/q_ensemble");
  const std::int64_t rows = z.shape().rows();
  check_rows(z, rows, cfg_.latent_dim, "TD-MPC2 Q z");
  check_rows(a, rows, cfg_.action_dim, "TD-MPC2 Q a");
  check_rows(v, rows, 1, "TD-MPC2 Q v");
  if (on_cuda({z, a, v}, "Q"))
    return cuda_twin().q(z.data(), a.data(), static_cast<int>(rows), heads, false, v.data());
  q_raw(z.data(), a.data(), static_cast<int>(rows), heads, false, v.data());
}

void Tdmpc2Model::value_ensemble_into(const Tensor& z, const Tensor& a, const Tensor& vs) const {
  const ProfileRange range("model/q_ensemble");
  const std::int64_t rows = z.shape().rows();
  LUCID_CHECK_SHAPE(vs.defined() && vs.numel() == rows * cfg_.num_q)
      << "TD-MPC2 Q ensemble: expected (" << cfg_.num_q << ", " << rows << ", 1)";
  if (on_cuda({z, a, vs}, "Q ensemble"))
    return cuda_twin().q_ensemble(z.data(), a.data(), static_cast<int>(rows), vs.data());
  for (int h = 0; h < cfg_.num_q; ++h) {
    const int head[1] = {h};
    q_raw(z.data(), a.data(), static_cast<int>(rows), head, false,
          vs.data() + static_cast<std::size_t>(h) * rows);
  }
}

void Tdmpc2Model::policy_into(const Tensor& z, const Tensor& mean, const Tensor& log_std) const {
  const ProfileRange range("model/policy");
  const std::int64_t rows = z.shape().rows();
  const int A = cfg_.action_dim;
  check_rows(z, rows, cfg_.latent_dim, "TD-MPC2 pi z");
  check_rows(mean, rows, A, "TD-MPC2 pi mean");
  check_rows(log_std, rows, A, "TD-MPC2 pi log_std");
  if (on_cuda({z, mean, log_std}, "pi"))
    return cuda_twin().pi(z.data(), nullptr, static_cast<int>(rows), mean.data(), log_std.data(), nullptr);
  Scratch& s = scratch(static_cast<int>(rows));
  input_rows(z.data(), cfg_.latent_dim, nullptr, nullptr, static_cast<int>(rows), s.pi.input());
  mlp_forward(layout_.pi, block(layout_.pi), s.pi, static_cast<int>(rows), nullptr, weights_version_);
  const float dif = cfg_.log_std_max - cfg_.log_std_min;
  const float* mask = action_mask(task_);  // official: mean and log_std are both masked
  for (std::int64_t r = 0; r < rows; ++r)
    for (int j = 0; j < A; ++j) {
      const float* o = s.pi.output() + r * 2 * A;
      mean.data()[r * A + j] = mask[j] * o[j];
      log_std.data()[r * A + j] = mask[j] * (cfg_.log_std_min + 0.5f * dif * (std::tanh(o[A + j]) + 1.f));
    }
}

void Tdmpc2Model::policy_action_into(const Tensor& z, const Tensor& eps, const Tensor& action) const {
  const ProfileRange range("model/policy");
  const std::int64_t rows = z.shape().rows();
  check_rows(z, rows, cfg_.latent_dim, "TD-MPC2 pi z");
  check_rows(action, rows, cfg_.action_dim, "TD-MPC2 pi action");
  if (eps.defined()) check_rows(eps, rows, cfg_.action_dim, "TD-MPC2 pi eps");
  if (on_cuda({z, eps, action}, "pi action"))
    return cuda_twin().pi(z.data(), eps.defined() ? eps.data() : nullptr, static_cast<int>(rows), nullptr,
                          nullptr, action.data());
  pi_action_raw(z.data(), eps.defined() ? eps.data() : nullptr, static_cast<int>(rows), action.data());
}

void two_hot_inv_rows(const float* logits, int rows, const Tdmpc2Config& cfg, float* out) {
  const int nb = cfg.num_bins;
  const float bs = cfg.bin_size();
#pragma omp parallel for schedule(static) if (std::int64_t{rows} * nb >= kernels::kParallelGrain)
  for (int r = 0; r < rows; ++r) {
    const float* l = logits + static_cast<std::size_t>(r) * nb;
    // Vector lanes throughout: hd::exp_poly inlines (libm's expf would keep the loop scalar) and
    // the sums are lane-wise partial sums. Called for every MPPI sample's reward and Q rows.
    float mx = l[0];
#pragma omp simd reduction(max : mx)
    for (int j = 1; j < nb; ++j) mx = std::max(mx, l[j]);
    float sum = 0.f, dot = 0.f;
#pragma omp simd reduction(+ : sum, dot)
    for (int j = 0; j < nb; ++j) {
      const float e = hd::exp_poly(l[j] - mx);
      sum += e;
      dot += e * (cfg.vmin + bs * static_cast<float>(j));
    }
    const float m = dot / sum;
    out[r] = hd::symexp(m);
  }
}

void two_hot_inv_backward_rows(const float* logits, const float* g, int rows, const Tdmpc2Config& cfg,
                               float* dlogits) {
  const int nb = cfg.num_bins;
  const float bs = cfg.bin_size();
#pragma omp parallel for schedule(static) if (std::int64_t{rows} * nb >= kernels::kParallelGrain)
  for (int r = 0; r < rows; ++r) {
    const float* l = logits + static_cast<std::size_t>(r) * nb;
    float* d = dlogits + static_cast<std::size_t>(r) * nb;
    // The same exponential and lane-wise sums as two_hot_inv_rows, so this is the derivative of
    // what the forward computed.
    float mx = l[0];
#pragma omp simd reduction(max : mx)
    for (int j = 1; j < nb; ++j) mx = std::max(mx, l[j]);
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < nb; ++j) {
      d[j] = hd::exp_poly(l[j] - mx);
      sum += d[j];
    }
    float m = 0.f;
#pragma omp simd reduction(+ : m)
    for (int j = 0; j < nb; ++j) {
      d[j] /= sum;
      m += d[j] * (cfg.vmin + bs * static_cast<float>(j));
    }
    // out = symexp(m): d out / d m = exp(|m|); d m / d l_j = p_j (bin_j - m).
    const float gm = g[r] * hd::symexp_grad(m);
    for (int j = 0; j < nb; ++j) d[j] = gm * d[j] * (cfg.vmin + bs * static_cast<float>(j) - m);
  }
}

void concat_rows(const float* z, int L, const float* a, int A, int rows, float* dst) {
#pragma omp parallel for schedule(static) if (std::int64_t{rows} * (L + A) >= 4 * kernels::kParallelGrain)
  for (int r = 0; r < rows; ++r) {
    std::memcpy(dst + static_cast<std::size_t>(r) * (L + A), z + static_cast<std::size_t>(r) * L,
                sizeof(float) * L);
    std::memcpy(dst + static_cast<std::size_t>(r) * (L + A) + L, a + static_cast<std::size_t>(r) * A,
                sizeof(float) * A);
  }
}

}  // namespace lucid::models::tdmpc2
