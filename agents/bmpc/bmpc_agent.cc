// BMPC agent: acting with expert bookkeeping, the update, lazy reanalyze (see bmpc_agent.h for
// the steps and facts/tdmpc2.md §2).
//
// Row conventions as the TD-MPC2 agent: latents zs are (H+1, B, L) time-major, so rows
// [t * B, (t + 1) * B) are step t; actions, rewards, TD targets (H, B, .); experts (H+1, B, 2A)
// with [mean | std] per row. Reward and V heads see all H steps at once (H * B rows); dynamics
// runs step by step with one cache per step so its backward can walk back through time.
#include "lucid/agents/bmpc_agent.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "lucid/agents/consistency_loss.h"
#include "lucid/agents/rho_soft_ce.h"
#include "lucid/agents/tdmpc2_agent.h"
#include "lucid/engine/profile.h"
#include "lucid/error.h"
#include "lucid/kernels/copy.h"
#include "lucid/kernels/softmax.h"
#include "lucid/kernels/threading.h"
#include "lucid/planners/dream_mpc.h"

namespace lucid::agents {

using models::tdmpc2::concat_rows;
using models::tdmpc2::Mlp;
using models::tdmpc2::mlp_backward;
using models::tdmpc2::mlp_forward;
using models::tdmpc2::MlpCache;

namespace {

constexpr const char* kExpertField = "expert";

std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

// Model optimizer: encoder at lr x enc_lr_scale; dynamics, reward and V heads (contiguous) at lr.
std::vector<ParamGroup> model_groups(const models::bmpc::BmpcLayout& l, float enc_lr_scale) {
  return {{l.encoder.begin(), l.encoder.size(), enc_lr_scale},
          {l.dynamics.begin(), l.v_end() - l.dynamics.begin(), 1.f}};
}

}  // namespace

BmpcPiLoss bmpc_pi_loss(const float* out, const float* eps, const float* expert, int steps, int batch,
                        int action_dim, float log_std_min, float log_std_max, float rho, float entropy_coef,
                        float tau, float& scale, float* dout, std::span<float> scratch) {
  const int A = action_dim, B = batch, R = steps * batch;
  LUCID_CHECK(steps >= 1 && B >= 1 && A >= 1 && scratch.size() >= sz(B)) << "bmpc_pi_loss: bad sizes";
  const float dif = log_std_max - log_std_min;
  constexpr float kHalfLog2Pi = 0.9189385175704956f;
  auto log_std_of = [&](float x) { return log_std_min + 0.5f * dif * (std::tanh(x) + 1.f); };
  // KL(N(m, s) || N(me, se)) per dim = log(se / s) + (s^2 + (m - me)^2) / (2 se^2) - 1/2.
  auto kl_row = [&](int r) {
    const float* o = out + sz(r) * 2 * A;
    const float* e = expert + sz(r) * 2 * A;
    float kl = 0.f;
    for (int j = 0; j < A; ++j) {
      const float m = std::tanh(o[j]), ls = log_std_of(o[A + j]), s = std::exp(ls);
      const float me = e[j], se = e[A + j], d = m - me;
      kl += std::log(se) - ls + (s * s + d * d) / (2.f * se * se) - 0.5f;
    }
    return kl / static_cast<float>(A);
  };
  // RunningScale on step 0's KL (detached): lerp towards max(P95 - P5, 1).
  for (int b = 0; b < B; ++b) scratch[b] = kl_row(b);
  const float spread = std::max(percentile_spread(scratch.subspan(0, B)), 1.f);
  scale += tau * (spread - scale);

  BmpcPiLoss res;
  float w = 1.f;
  for (int t = 0; t < steps; ++t, w *= rho) {
    const float row_w = w / (static_cast<float>(steps) * B);
    for (int b = 0; b < B; ++b) {
      const int r = t * B + b;
      const float* o = out + sz(r) * 2 * A;
      const float* e = expert + sz(r) * 2 * A;
      float* d = dout + sz(r) * 2 * A;
      const float kl = kl_row(r);
      // scaled_entropy = -lp * (lp A / (lp + 1e-8)), lp the Gaussian log-prob of eps (TD-MPC2's
      // formula; no squash correction, BMPC's policy is not squashed).
      float lp = 0.f;
      for (int j = 0; j < A; ++j) {
        const float ei = eps[sz(r) * A + j];
        lp += -0.5f * ei * ei - log_std_of(o[A + j]) - kHalfLog2Pi;
      }
      const float den = lp + 1e-8f;
      const float se = -lp * (lp * static_cast<float>(A) / den);
      res.loss += row_w * (kl / scale - entropy_coef * se);
      res.kl += kl / static_cast<float>(R);
      res.entropy += se / static_cast<float>(R);
      // d se / d lp = -A (2 lp den - lp^2) / den^2; d lp / d log_std_j = -1.
      const float dse_dlp = -static_cast<float>(A) * (2.f * lp * den - lp * lp) / (den * den);
      const float g_kl = row_w / (scale * static_cast<float>(A));
      const float g_ls_entropy = -row_w * entropy_coef * dse_dlp * -1.f;
      for (int j = 0; j < A; ++j) {
        const float m = std::tanh(o[j]), th = std::tanh(o[A + j]);
        const float ls = log_std_min + 0.5f * dif * (th + 1.f), s = std::exp(ls);
        const float me = e[j], se_j = e[A + j];
        const float dm = g_kl * (m - me) / (se_j * se_j);
        const float dls = g_kl * (s * s / (se_j * se_j) - 1.f) + g_ls_entropy;
        d[j] = dm * (1.f - m * m);
        d[A + j] = dls * 0.5f * dif * (1.f - th * th);
      }
    }
  }
  return res;
}

BmpcAgent::BmpcAgent(const BmpcAgentConfig& config)
    : cfg_(config),
      discount_(tdmpc2_discount(config.episode_length)),
      model_(std::make_unique<models::bmpc::BmpcModel>(
          models::bmpc::bmpc_preset(config.model_size, config.obs_dim, config.action_dim))),
      optim_(model_->params().size(), model_groups(model_->layout(), config.enc_lr_scale),
             AdamOptions{config.lr}),
      pi_optim_(model_->params().size(), {{model_->layout().pi.begin(), model_->layout().pi.size(), 1.f}},
                AdamOptions{config.lr, 0.9f, 0.999f, 1e-5f}),
      rng_(config.seed, 0) {
  LUCID_CHECK_AS(cfg_.batch_size >= 2 && cfg_.horizon >= 1, ConfigError)
      << "bmpc: batch_size >= 2 and horizon >= 1 required";
  LUCID_CHECK_AS(cfg_.reanalyze_interval >= 0 && cfg_.reanalyze_batch_size >= 0, ConfigError)
      << "bmpc: reanalyze_interval and reanalyze_batch_size must be >= 0";
  Rng init_rng(cfg_.seed, 1);
  model_->init(init_rng);
  const auto& mc = model_->config();
  const int B = cfg_.batch_size, H = cfg_.horizon, A = mc.action_dim, L = mc.latent_dim, M = mc.mlp_dim;
  const int HB = H * B, H1B = (H + 1) * B;

  planners::PlannerConfig pc = cfg_.planner;
  pc.name = cfg_.mpc ? cfg_.planner.name : "policy";
  pc.action_dim = A;
  pc.latent_dim = L;
  pc.horizon = H;
  pc.discount = discount_;
  if (pc.name == "mppi") {
    auto mppi = std::make_unique<planners::BatchedMppi>(pc);
    mppi_ = mppi.get();
    planner_ = std::move(mppi);
  } else {
    planner_ = planners::make_planner(pc);
  }
  planner_->allocate(1);
  // Reanalysis always re-plans with MPPI, BMPC's expert.
  planners::PlannerConfig rc = pc.name == "mppi" ? pc : planners::planner_defaults("mppi");
  rc.name = "mppi";
  rc.action_dim = A, rc.latent_dim = L, rc.horizon = H, rc.discount = discount_;
  const int re_states = std::min(cfg_.reanalyze_batch_size, B) * H;
  if (re_states > 0) {
    reanalyzer_ = std::make_unique<planners::BatchedMppi>(rc);
    reanalyzer_->allocate(re_states);
    re_obs_ = Tensor::zeros(Shape{re_states, mc.obs_dim});
    re_rngs_.assign(re_states, Rng(0, 0));
  }
  obs_ = Tensor::zeros(Shape{1, mc.obs_dim});
  last_expert_.assign(sz(2) * A, 0.f);

  const auto& lay = model_->layout();
  enc_cache_.reserve(lay.encoder, B);
  rew_cache_.reserve(lay.reward, HB);
  pi_cache_.reserve(lay.pi, H1B);
  dyn_caches_.resize(H);
  for (auto& c : dyn_caches_) c.reserve(lay.dynamics, B);
  v_caches_.resize(mc.num_q);
  for (auto& c : v_caches_) c.reserve(lay.v.front(), HB);
  next_z_.resize(sz(HB) * L);
  z_real_.resize(sz(HB) * L);
  td_.resize(HB);
  td_action_.resize(sz(HB) * A);
  td_r_.resize(HB);
  td_z_.resize(sz(HB) * L);
  zs_.resize(sz(H1B) * L);
  dz_.resize(sz(H1B) * L);
  dx_.resize(sz(H1B) * (L + A));
  row_se_.resize(B);
  head_scratch_.resize(1 + mc.num_q);  // the reward head, then one per V head
  for (HeadScratch& s : head_scratch_) s.reserve(HB, HB, mc.num_bins, L + A);
  expert_.resize(sz(H1B) * 2 * A);
  dpi_out_.resize(sz(H1B) * 2 * A);
  sorted_.resize(B);
  noise_.td_eps.resize(sz(HB) * A);
  noise_.pi_eps.resize(sz(H1B) * A);
  noise_.v_masks.resize(sz(mc.num_q) * HB * M);
}

void BmpcAgent::reset() {
  planner_->reset();
  ++episode_serial_;
}

std::vector<float> BmpcAgent::act(std::span<const float> obs, bool eval) {
  LUCID_CHECK_SHAPE(static_cast<int>(obs.size()) == cfg_.obs_dim)
      << "bmpc act: expected " << cfg_.obs_dim << " observation values, got " << obs.size();
  for (float v : obs) LUCID_CHECK_SHAPE(std::isfinite(v)) << "bmpc act: non-finite observation value " << v;
  std::copy(obs.begin(), obs.end(), obs_.data());
  const Tensor a = planner_->plan(*model_, obs_, rng_, eval);
  std::vector<float> action(a.data(), a.data() + cfg_.action_dim);
  if (!eval) {
    record_expert(obs);
    ++train_acts_;
  }
  return action;
}

void BmpcAgent::record_expert(std::span<const float> obs) {
  const auto& mc = model_->config();
  const int A = mc.action_dim;
  const float min_std = cfg_.planner.min_std, max_std = cfg_.planner.max_std;
  float* mean = last_expert_.data();
  float* sd = last_expert_.data() + A;
  if (mppi_) {
    std::copy(mppi_->expert_mean().begin(), mppi_->expert_mean().end(), mean);
    std::copy(mppi_->expert_std().begin(), mppi_->expert_std().end(), sd);
  } else if (const auto* dream = dynamic_cast<const planners::DreamMpc*>(planner_.get())) {
    // The candidates' first actions (stored clamped, (H, N, A) for one state): mean and clamped
    // std (Bessel, as torch.std) over candidates.
    const int N = dream->num_candidates();
    const float* first = dream->candidates().data();
    for (int j = 0; j < A; ++j) {
      double m = 0.0, ss = 0.0;
      for (int n = 0; n < N; ++n) m += first[sz(n) * A + j];
      m /= N;
      for (int n = 0; n < N; ++n) ss += (first[sz(n) * A + j] - m) * (first[sz(n) * A + j] - m);
      mean[j] = static_cast<float>(m);
      sd[j] = std::clamp(N > 1 ? static_cast<float>(std::sqrt(ss / (N - 1))) : max_std, min_std, max_std);
    }
  } else {
    // Planners without a distribution (the policy prior itself): the policy's own Gaussian.
    std::vector<float> z(mc.latent_dim), log_std(A);
    model_->encode_raw(obs.data(), 1, z.data());
    model_->pi_dist_raw(z.data(), 1, mean, log_std.data());
    for (int j = 0; j < A; ++j) sd[j] = std::exp(log_std[j]);
  }
  pending_.push_back({episode_serial_, std::vector<float>(obs.begin(), obs.end()), last_expert_});
}

int BmpcAgent::expert_field(ReplayBuffer& buffer) {
  if (field_buffer_ == &buffer && field_ >= 0) return field_;
  const int A = cfg_.action_dim;
  field_ = buffer.field_index(kExpertField);
  if (field_ < 0) {
    std::vector<float> fill(sz(2) * A, 1.f);
    std::fill(fill.begin(), fill.begin() + A, 0.f);  // N(0, 1): mean 0, std 1
    field_ = buffer.add_field(kExpertField, fill);
  }
  LUCID_CHECK(buffer.field_width(field_) == 2 * A) << "bmpc: buffer field '" << kExpertField << "' has width "
                                                   << buffer.field_width(field_) << ", expected " << 2 * A;
  if (field_buffer_ != nullptr) synced_id_ = 0;  // another buffer: scan it from the start
  field_buffer_ = &buffer;
  return field_;
}

void BmpcAgent::sync_experts(ReplayBuffer& buffer) {
  const int f = expert_field(buffer);
  const int O = cfg_.obs_dim, W = 2 * cfg_.action_dim;
  // Episodes added since the last sync, oldest first; every acted-on observation (not the last)
  // takes the queue's front expert when the stored observation is the one it was planned from.
  std::int64_t first_new = buffer.num_episodes();
  while (first_new > 0 && buffer.episode(first_new - 1).first_id >= synced_id_) --first_new;
  for (std::int64_t k = first_new; k < buffer.num_episodes() && !pending_.empty(); ++k) {
    const auto ep = buffer.episode(k);
    auto rows = buffer.episode_field(k, f);
    for (std::int64_t t = 0; t < ep.length && !pending_.empty(); ++t) {
      const PendingExpert& p = pending_.front();
      if (!std::equal(p.obs.begin(), p.obs.end(), ep.obs.begin() + t * O)) continue;
      std::copy(p.expert.begin(), p.expert.end(), rows.begin() + t * W);
      pending_.pop_front();
    }
  }
  synced_id_ = buffer.next_id();
  // Every finished episode is in the buffer by now (the trainer adds it before the next one
  // starts); what is left of older episodes belonged to one too short to be stored.
  while (!pending_.empty() && pending_.front().episode_serial < episode_serial_) pending_.pop_front();
}

void BmpcAgent::draw_noise(BmpcUpdateNoise& n) {
  const auto& mc = model_->config();
  const int B = cfg_.batch_size, H = cfg_.horizon, A = mc.action_dim, M = mc.mlp_dim;
  n.td_eps.resize(sz(H) * B * A);
  n.pi_eps.resize(sz(H + 1) * B * A);
  n.v_masks.resize(sz(mc.num_q) * H * B * M);
  rng_.normal(n.td_eps.data(), n.td_eps.size());
  rng_.normal(n.pi_eps.data(), n.pi_eps.size());
  rng_.dropout_mask(n.v_masks.data(), n.v_masks.size(), mc.dropout);
}

UpdateInfo BmpcAgent::update(ReplayBuffer& buffer) {
  LUCID_CHECK(buffer.horizon() == cfg_.horizon)
      << "bmpc: buffer horizon " << buffer.horizon() << " != " << cfg_.horizon;
  sync_experts(buffer);
  const Batch& batch = buffer.sample(cfg_.batch_size, rng_);
  const Tensor& ex = batch.fields[field_];
  std::copy(ex.data(), ex.data() + ex.numel(), expert_.begin());
  draw_noise(noise_);
  const bool pretraining = train_acts_ == 0;
  int replans = 0;
  if (!pretraining && reanalyzer_ && cfg_.reanalyze_interval > 0 && updates_ % cfg_.reanalyze_interval == 0) {
    const ProfileRange range("update/reanalyze");
    replans = reanalyze(buffer, batch, expert_);
  }
  UpdateInfo info = update_batch(batch, expert_, noise_, !pretraining);
  info["reanalyzed"] = static_cast<float>(replans);
  return info;
}

int BmpcAgent::reanalyze(ReplayBuffer& buffer, const Batch& batch, std::span<float> expert) {
  LUCID_CHECK(reanalyzer_) << "bmpc: reanalyze is off (reanalyze_batch_size 0)";
  const int f = expert_field(buffer);
  const int B = cfg_.batch_size, H = cfg_.horizon, O = cfg_.obs_dim, A = cfg_.action_dim;
  const int n = std::min(cfg_.reanalyze_batch_size, B);
  // State i = b * H + t: observation t of sampled sequence b.
  for (int b = 0; b < n; ++b)
    for (int t = 0; t < H; ++t)
      std::memcpy(re_obs_.data() + sz(b * H + t) * O, batch.obs.data() + (sz(t) * B + b) * O,
                  sizeof(float) * O);
  // One stream per state, seeded from the agent's stream (checkpointed with it).
  float seed_bits[2];
  rng_.uniform(seed_bits, 2);
  const auto seed = static_cast<std::uint64_t>(seed_bits[0] * 16777216.f) << 24 |
                    static_cast<std::uint64_t>(seed_bits[1] * 16777216.f);
  for (int i = 0; i < n * H; ++i) re_rngs_[i] = Rng(seed, static_cast<std::uint64_t>(i));
  const Tensor obs = re_obs_.view_rows(0, std::int64_t{n} * H);
  reanalyzer_->plan_batch(*model_, obs, std::span<Rng>(re_rngs_.data(), sz(n) * H), /*eval=*/true,
                          /*t0=*/true);
  const auto mean = reanalyzer_->expert_mean();
  const auto sd = reanalyzer_->expert_std();
  for (int b = 0; b < n; ++b)
    for (int t = 0; t < H; ++t) {
      const std::size_t i = sz(b * H + t) * A;
      auto slot = buffer.field_row(f, batch.start[b], t);
      float* row = expert.data() + (sz(t) * B + b) * 2 * A;
      std::copy(mean.begin() + i, mean.begin() + i + A, slot.begin());
      std::copy(sd.begin() + i, sd.begin() + i + A, slot.begin() + A);
      std::copy(mean.begin() + i, mean.begin() + i + A, row);
      std::copy(sd.begin() + i, sd.begin() + i + A, row + A);
    }
  return n * H;
}

UpdateInfo BmpcAgent::update_batch(const Batch& batch, std::span<const float> expert,
                                   const BmpcUpdateNoise& noise, bool train_pi) {
  const auto& mc = model_->config();
  const int B = cfg_.batch_size, H = cfg_.horizon;
  LUCID_CHECK_SHAPE(batch.obs.shape() == (Shape{H + 1, B, mc.obs_dim}))
      << "bmpc update: obs " << batch.obs.shape().str() << ", expected (" << H + 1 << ", " << B << ", "
      << mc.obs_dim << ")";
  LUCID_CHECK_SHAPE(batch.action.shape() == (Shape{H, B, mc.action_dim}))
      << "bmpc update: action " << batch.action.shape().str();
  LUCID_CHECK_SHAPE(batch.reward.numel() == std::int64_t{H} * B)
      << "bmpc update: reward " << batch.reward.shape().str();
  LUCID_CHECK_SHAPE(expert.size() == sz(H + 1) * B * 2 * mc.action_dim)
      << "bmpc update: " << expert.size() << " expert values, expected (H+1) B 2A";
  UpdateInfo info;
  model_update(batch, noise, info);
  if (train_pi) pi_update(expert, noise, info);
  const auto& l = model_->layout();
  const ProfileRange range("update/ema");
  ema_update(model_->target_v(), model_->params().subspan(l.v_begin(), l.v_end() - l.v_begin()), cfg_.tau);
  model_->bump_weights_version();
  ++updates_;
  return info;
}

void BmpcAgent::model_update(const Batch& batch, const BmpcUpdateNoise& noise, UpdateInfo& info) {
  std::optional<ProfileRange> world_model_range(std::in_place, "update/world_model");
  auto& m = *model_;
  const auto& mc = m.config();
  const auto& lay = m.layout();
  const int B = cfg_.batch_size, H = cfg_.horizon, A = mc.action_dim, L = mc.latent_dim, O = mc.obs_dim;
  const int M = mc.mlp_dim, NB = mc.num_bins, HB = H * B;
  const float* obs = batch.obs.data();
  const float* act = batch.action.data();
  const float* rew = batch.reward.data();

  // 1. No grad: real latents and the model-based one-step TD target.
  m.encode_raw(obs + sz(B) * O, HB, next_z_.data());  // enc(obs[1:]): consistency targets
  m.encode_raw(obs, B, z_real_.data());               // enc(obs[0]); steps 1.. are next_z
  std::memcpy(z_real_.data() + sz(B) * L, next_z_.data(), sizeof(float) * sz(HB - B) * L);
  m.pi_action_raw(z_real_.data(), noise.td_eps.data(), HB, td_action_.data());
  m.reward_raw(z_real_.data(), td_action_.data(), HB, td_r_.data());
  m.next_raw(z_real_.data(), td_action_.data(), HB, td_z_.data());
  m.v_raw(td_z_.data(), HB, {}, /*use_target=*/true, td_.data());
  for (int i = 0; i < HB; ++i) td_[i] = td_r_[i] + discount_ * td_[i];

  kernels::fill_cpu(m.grads().data(), static_cast<std::int64_t>(m.grads().size()), 0.f);
  kernels::fill_cpu(dz_.data(), static_cast<std::int64_t>(dz_.size()), 0.f);

  // 2. Latent rollout and consistency loss.
  std::memcpy(enc_cache_.input(), obs, sizeof(float) * B * O);
  mlp_forward(lay.encoder, m.block(lay.encoder), enc_cache_, B);
  std::memcpy(zs_.data(), enc_cache_.output(), sizeof(float) * B * L);
  float consistency = 0.f, w = 1.f;
  const float cons_scale = cfg_.consistency_coef * 2.f / (static_cast<float>(B) * L * H);
  for (int t = 0; t < H; ++t, w *= cfg_.rho) {
    MlpCache& c = dyn_caches_[t];
    concat_rows(zs_.data() + sz(t) * B * L, L, act + sz(t) * B * A, A, B, c.input());
    mlp_forward(lay.dynamics, m.block(lay.dynamics), c, B);
    float* z = zs_.data() + sz(t + 1) * B * L;
    std::memcpy(z, c.output(), sizeof(float) * B * L);
    const float* target = next_z_.data() + sz(t) * B * L;
    float* dz = dz_.data() + sz(t + 1) * B * L;
    const double se = consistency_step(z, target, B, L, w * cons_scale, dz, row_se_.data());
    consistency += w * static_cast<float>(se / (static_cast<double>(B) * L));
  }
  consistency /= static_cast<float>(H);

  // 3. Reward and value losses over all H steps at once: row t * B + b weighs coef rho^t / (B H).
  // The reward head and the V heads are independent until their input gradients meet in dz: each
  // head's forward, loss and backward is one job (kernels::parallel_jobs, one head per core at a
  // time) with its own scratch, summed into dz after in head order (as tdmpc2_agent.cc).
  const RhoSoftCeShape ce{H, B, NB, mc.vmin, mc.vmax, cfg_.rho};
  concat_rows(zs_.data(), L, act, A, HB, rew_cache_.input());
  const int n_heads = 1 + mc.num_q;  // job 0: reward; job 1 + q: V head q
  kernels::parallel_jobs(n_heads, [&](int j) {
    if (j == 0) {
      head_loss_job(lay.reward, m.block(lay.reward), m.grad_block(lay.reward), rew_cache_, nullptr, rew,
                    cfg_.reward_coef, ce, head_scratch_[0]);
      return;
    }
    const int q = j - 1;
    std::memcpy(v_caches_[q].input(), zs_.data(), sizeof(float) * sz(HB) * L);
    head_loss_job(lay.v[q], m.block(lay.v[q]), m.grad_block(lay.v[q]), v_caches_[q],
                  noise.v_masks.data() + sz(q) * HB * M, td_.data(),
                  cfg_.value_coef / static_cast<float>(mc.num_q), ce, head_scratch_[j]);
  });
  const float reward_loss = head_scratch_[0].loss;
  add_latent_grad(head_scratch_[0].dx.data(), L, L + A, HB, dz_.data());
  float value_loss = 0.f;
  for (int q = 0; q < mc.num_q; ++q) {
    value_loss += head_scratch_[1 + q].loss;
    add_latent_grad(head_scratch_[1 + q].dx.data(), L, L, HB, dz_.data());
  }
  value_loss /= static_cast<float>(mc.num_q);

  // 4. Back through the dynamics (last step first), then the encoder.
  for (int t = H - 1; t >= 0; --t) {
    mlp_backward(lay.dynamics, m.block(lay.dynamics), m.grad_block(lay.dynamics), dyn_caches_[t],
                 dz_.data() + sz(t + 1) * B * L, dx_.data());
    add_latent_grad(dx_.data(), L, L + A, B, dz_.data() + sz(t) * B * L);
  }
  mlp_backward(lay.encoder, m.block(lay.encoder), m.grad_block(lay.encoder), enc_cache_, dz_.data(), nullptr);

  const float total =
      cfg_.consistency_coef * consistency + cfg_.reward_coef * reward_loss + cfg_.value_coef * value_loss;
  const std::span<float> model_grads = m.grads().subspan(0, lay.v_end());
  world_model_range.reset();
  const ProfileRange optimizer_range("update/optimizer");
  const float grad_norm = clip_grad_norm(model_grads, cfg_.grad_clip_norm);
  if (std::isfinite(grad_norm)) {
    optim_.step(m.params(), m.grads());
    m.bump_weights_version();
  }
  float td_mean = 0.f;
  for (int i = 0; i < HB; ++i) td_mean += td_[i] / static_cast<float>(HB);
  info["consistency_loss"] = consistency;
  info["reward_loss"] = reward_loss;
  info["value_loss"] = value_loss;
  info["total_loss"] = total;
  info["grad_norm"] = grad_norm;
  info["td_target"] = td_mean;
}

void BmpcAgent::pi_update(std::span<const float> expert, const BmpcUpdateNoise& noise, UpdateInfo& info) {
  auto& m = *model_;
  const auto& mc = m.config();
  const auto& lay = m.layout();
  const int B = cfg_.batch_size, H = cfg_.horizon, L = mc.latent_dim, R = (H + 1) * B;
  std::optional<ProfileRange> policy_range(std::in_place, "update/policy");
  // The policy on the detached latents of the model update's rollout (zs.detach()).
  std::memcpy(pi_cache_.input(), zs_.data(), sizeof(float) * sz(R) * L);
  mlp_forward(lay.pi, m.block(lay.pi), pi_cache_, R);
  const BmpcPiLoss res = bmpc_pi_loss(pi_cache_.output(), noise.pi_eps.data(), expert.data(), H + 1, B,
                                      mc.action_dim, mc.log_std_min, mc.log_std_max, cfg_.rho,
                                      cfg_.entropy_coef, cfg_.tau, scale_, dpi_out_.data(), sorted_);
  std::fill(m.grads().begin() + static_cast<std::ptrdiff_t>(lay.pi.begin()),
            m.grads().begin() + static_cast<std::ptrdiff_t>(lay.pi.end()), 0.f);
  mlp_backward(lay.pi, m.block(lay.pi), m.grad_block(lay.pi), pi_cache_, dpi_out_.data(), nullptr);
  const std::span<float> pi_grads = m.grads().subspan(lay.pi.begin(), lay.pi.size());
  policy_range.reset();
  const ProfileRange optimizer_range("update/optimizer");
  const float pi_norm = clip_grad_norm(pi_grads, cfg_.grad_clip_norm);
  if (std::isfinite(pi_norm)) {
    pi_optim_.step(m.params(), m.grads());
    m.bump_weights_version();
  }
  info["pi_loss"] = res.loss;
  info["pi_kl"] = res.kl;
  info["pi_entropy"] = res.entropy;
  info["pi_scale"] = scale_;
  info["pi_grad_norm"] = pi_norm;
}

AgentState BmpcAgent::state() const {
  AgentState s;
  auto add = [&](const std::string& name, std::span<const float> v) {
    s.tensors.push_back(
        {name, {static_cast<std::int64_t>(v.size())}, std::vector<float>(v.begin(), v.end())});
  };
  add("model.params", model_->params());
  add("model.target_v", model_->target_v());
  add("optim.exp_avg", optim_.exp_avg());
  add("optim.exp_avg_sq", optim_.exp_avg_sq());
  add("pi_optim.exp_avg", pi_optim_.exp_avg());
  add("pi_optim.exp_avg_sq", pi_optim_.exp_avg_sq());
  const float scale[1] = {scale_};
  add("pi_scale", scale);
  s.scalars["optim.step"] = std::to_string(optim_.step_count());
  s.scalars["pi_optim.step"] = std::to_string(pi_optim_.step_count());
  s.scalars["rng.seed"] = std::to_string(rng_.seed());
  s.scalars["rng.offset"] = std::to_string(rng_.offset());
  s.scalars["updates"] = std::to_string(updates_);
  s.scalars["train_acts"] = std::to_string(train_acts_);
  s.scalars["model_size"] = std::to_string(cfg_.model_size);
  // Experts still queued: a checkpoint is taken right after an episode enters the buffer and
  // before the update that would write its experts, so they travel with the agent.
  s.scalars["episode_serial"] = std::to_string(episode_serial_);
  s.scalars["synced_id"] = std::to_string(synced_id_);
  if (!pending_.empty()) {
    std::vector<float> obs, expert;
    std::string serials;
    for (const PendingExpert& p : pending_) {
      obs.insert(obs.end(), p.obs.begin(), p.obs.end());
      expert.insert(expert.end(), p.expert.begin(), p.expert.end());
      serials += (serials.empty() ? "" : ",") + std::to_string(p.episode_serial);
    }
    add("pending.obs", obs);
    add("pending.expert", expert);
    s.scalars["pending.serials"] = serials;
  }
  return s;
}

void BmpcAgent::load_state(const AgentState& s) {
  const StateReader in(s, "bmpc");
  LUCID_CHECK_AS(in.scalar("model_size") == cfg_.model_size, IoError)
      << "bmpc state: saved model_size " << in.scalar("model_size") << " != " << cfg_.model_size;
  in.copy("model.params", model_->params());
  in.copy("model.target_v", model_->target_v());
  in.copy("optim.exp_avg", optim_.exp_avg());
  in.copy("optim.exp_avg_sq", optim_.exp_avg_sq());
  in.copy("pi_optim.exp_avg", pi_optim_.exp_avg());
  in.copy("pi_optim.exp_avg_sq", pi_optim_.exp_avg_sq());
  scale_ = in.tensor("pi_scale", 1)[0];
  optim_.set_step_count(in.scalar("optim.step"));
  pi_optim_.set_step_count(in.scalar("pi_optim.step"));
  rng_ = Rng(static_cast<std::uint64_t>(in.scalar("rng.seed")), 0);
  rng_.set_offset(static_cast<std::uint64_t>(in.scalar("rng.offset")));
  updates_ = in.scalar("updates");
  train_acts_ = in.scalar("train_acts");
  episode_serial_ = in.scalar("episode_serial");
  synced_id_ = in.scalar("synced_id");
  field_buffer_ = nullptr;  // the field index is looked up again in the restored buffer
  pending_.clear();
  if (const auto it = s.scalars.find("pending.serials"); it != s.scalars.end()) {
    std::vector<std::int64_t> serials;
    for (std::size_t pos = 0; pos < it->second.size();) {
      const std::size_t end = std::min(it->second.find(',', pos), it->second.size());
      serials.push_back(std::stoll(it->second.substr(pos, end - pos)));
      pos = end + 1;
    }
    const std::size_t n = serials.size(), O = sz(cfg_.obs_dim), W = sz(2) * cfg_.action_dim;
    const auto& obs = in.tensor("pending.obs", n * O);
    const auto& expert = in.tensor("pending.expert", n * W);
    for (std::size_t i = 0; i < n; ++i)
      pending_.push_back({serials[i], std::vector<float>(obs.begin() + i * O, obs.begin() + (i + 1) * O),
                          std::vector<float>(expert.begin() + i * W, expert.begin() + (i + 1) * W)});
  }
  model_->bump_weights_version();
  planner_->reset();
}

}  // namespace lucid::agents
