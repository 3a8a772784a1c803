// TD-MPC2 agent: acting and the update (see tdmpc2_agent.h for the steps and facts/tdmpc2.md §1.5).
//
// Row conventions: latents zs are (H+1, B, L) time-major, so rows [t * B, (t + 1) * B) are step t;
// actions, rewards and TD targets are (H, B, .) the same way. Reward and Q heads see all H steps
// at once (H * B rows); dynamics runs step by step with one cache per step so its backward can
// walk back through time. Multitask rows carry the task of their sub-trajectory (row_tasks_, the
// B task ids repeated per step); every network input is built by Tdmpc2Model::input_rows, so the
// embedding columns sit between the latent (or observation) and the action, and the input
// gradients' embedding columns are scattered into the table's gradient row of each row's task.
#include "lucid/agents/tdmpc2_agent.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "lucid/agents/consistency_loss.h"
#include "lucid/agents/rho_soft_ce.h"
#include "lucid/engine/profile.h"
#include "lucid/error.h"
#include "lucid/kernels/copy.h"
#include "lucid/kernels/softmax.h"
#include "lucid/kernels/threading.h"

namespace lucid::agents {

using models::tdmpc2::Mlp;
using models::tdmpc2::mlp_backward;
using models::tdmpc2::mlp_forward;
using models::tdmpc2::MlpCache;

float tdmpc2_discount(int episode_length) {
  LUCID_CHECK_AS(episode_length > 0, ConfigError)
      << "episode_length must be positive, got " << episode_length;
  const float frac = static_cast<float>(episode_length) / 5.f;
  return std::clamp((frac - 1.f) / frac, 0.95f, 0.995f);
}

namespace {

models::tdmpc2::Tdmpc2Config model_config(const Tdmpc2AgentConfig& c) {
  LUCID_CHECK_AS(c.num_tasks >= 1, ConfigError) << "tdmpc2: num_tasks must be >= 1, got " << c.num_tasks;
  models::tdmpc2::Tdmpc2Config mc =
      models::tdmpc2::tdmpc2_preset(c.model_size, c.obs_dim, c.action_dim, c.num_tasks);
  models::tdmpc2::apply_overrides(mc, c.architecture);
  if (c.num_tasks > 1 && !c.task_action_dims.empty()) {
    LUCID_CHECK_AS(static_cast<int>(c.task_action_dims.size()) == c.num_tasks, ConfigError)
        << "tdmpc2: " << c.task_action_dims.size() << " task_action_dims for " << c.num_tasks << " tasks";
    mc.task_action_dims = c.task_action_dims;
  }
  return mc;
}

std::vector<float> task_discounts(const Tdmpc2AgentConfig& c) {
  if (c.task_episode_lengths.empty())
    return std::vector<float>(c.num_tasks, tdmpc2_discount(c.episode_length));
  LUCID_CHECK_AS(c.num_tasks > 1 && static_cast<int>(c.task_episode_lengths.size()) == c.num_tasks,
                 ConfigError)
      << "tdmpc2: " << c.task_episode_lengths.size() << " task_episode_lengths for " << c.num_tasks
      << " tasks";
  std::vector<float> d;
  for (int len : c.task_episode_lengths) d.push_back(tdmpc2_discount(len));
  return d;
}

}  // namespace

std::vector<ParamGroup> tdmpc2_model_groups(const models::tdmpc2::Tdmpc2Model& m, float enc_lr_scale) {
  const models::tdmpc2::Tdmpc2Layout& l = m.layout();
  std::vector<ParamGroup> g = {{l.encoder.begin(), l.encoder.size(), enc_lr_scale},
                               {l.dynamics.begin(), l.q_end() - l.dynamics.begin(), 1.f}};
  if (m.config().multitask())
    g.push_back({l.task_emb, static_cast<std::size_t>(m.config().num_tasks) * m.config().task_dim, 1.f});
  return g;
}

namespace {

void pick_two(int n, Rng& rng, int* heads) {
  const int a = std::min(static_cast<int>(rng.uniform() * static_cast<float>(n)), n - 1);
  int b = std::min(static_cast<int>(rng.uniform() * static_cast<float>(n - 1)), n - 2);
  if (b >= a) ++b;
  heads[0] = a;
  heads[1] = b;
}

// RunningScale._percentile: linear interpolation between sorted neighbours, positions in float.
float percentile(std::span<const float> sorted, int n, float pct) {
  const float pos = pct * static_cast<float>(n - 1) / 100.f;
  const int lo = static_cast<int>(std::floor(pos));
  const int hi = std::min(lo + 1, n - 1);
  const float w_hi = pos - static_cast<float>(lo);
  return sorted[lo] * (1.f - w_hi) + sorted[hi] * w_hi;
}

}  // namespace

float percentile_spread(std::span<float> values) {
  LUCID_CHECK(!values.empty()) << "percentile of no values";
  std::sort(values.begin(), values.end());
  const int n = static_cast<int>(values.size());
  return percentile(values, n, 95.f) - percentile(values, n, 5.f);
}

Tdmpc2Agent::Tdmpc2Agent(const Tdmpc2AgentConfig& config)
    : cfg_(config),
      discounts_(task_discounts(config)),
      model_(std::make_unique<models::tdmpc2::Tdmpc2Model>(model_config(config))),
      optim_(model_->params().size(), tdmpc2_model_groups(*model_, config.enc_lr_scale),
             AdamOptions{config.lr}),
      pi_optim_(model_->params().size(), {{model_->layout().pi.begin(), model_->layout().pi.size(), 1.f}},
                AdamOptions{config.lr, 0.9f, 0.999f, 1e-5f}),
      rng_(config.seed, 0) {
  LUCID_CHECK_AS(cfg_.batch_size >= 2 && cfg_.horizon >= 1, ConfigError)
      << "tdmpc2: batch_size >= 2 and horizon >= 1 required";
  Rng init_rng(cfg_.seed, 1);
  model_->init(init_rng);
  const auto& mc = model_->config();
  planners::PlannerConfig pc = cfg_.planner;
  pc.name = cfg_.mpc ? cfg_.planner.name : "policy";
  pc.action_dim = mc.action_dim;
  pc.latent_dim = mc.latent_dim;
  pc.horizon = cfg_.horizon;
  std::vector<float> planner_discounts;
  for (float d : discounts_) {
    const auto it = std::find(planner_discounts.begin(), planner_discounts.end(), d);
    planner_of_task_.push_back(static_cast<int>(it - planner_discounts.begin()));
    if (it != planner_discounts.end()) continue;
    planner_discounts.push_back(d);
    pc.discount = d;
    planners_.push_back(planners::make_planner(pc));
    planners_.back()->allocate(1);
  }
  planner_ = planners_.front().get();
  obs_ = Tensor::zeros(Shape{1, mc.obs_dim});

  const int B = cfg_.batch_size, H = cfg_.horizon, A = mc.action_dim, L = mc.latent_dim, M = mc.mlp_dim;
  const int HB = H * B, H1B = (H + 1) * B, TD = mc.task_dim;
  const auto& lay = model_->layout();
  enc_cache_.reserve(lay.encoder, HB);  // the targets' obs[1:], then the rollout's obs[0]
  rew_cache_.reserve(lay.reward, HB);
  pi_cache_.reserve(lay.pi, H1B);
  dyn_caches_.resize(H);
  for (auto& c : dyn_caches_) c.reserve(lay.dynamics, B);
  q_caches_.resize(mc.num_q);
  for (auto& c : q_caches_) c.reserve(lay.q.front(), H1B);
  next_z_.resize(static_cast<std::size_t>(HB) * L);
  td_.resize(HB);
  td_action_.resize(static_cast<std::size_t>(HB) * A);
  td_q_.resize(HB);
  zs_.resize(static_cast<std::size_t>(H1B) * L);
  dz_.resize(static_cast<std::size_t>(H1B) * L);
  dx_.resize(static_cast<std::size_t>(H1B) * std::max(L + TD + A, mc.obs_dim + TD));
  row_se_.resize(HB);
  step_w_.resize(H);
  for (int t = 0; t < H; ++t) step_w_[t] = t == 0 ? 1.f : step_w_[t - 1] * cfg_.rho;
  // Loss scratch per head: the reward head and each Q head (model update), or the policy loss's
  // two Q heads (H1B rows; ce holds their decoded values there).
  head_scratch_.resize(1 + mc.num_q);
  for (HeadScratch& s : head_scratch_) s.reserve(H1B, HB, mc.num_bins, L + TD + A);
  pi_action_.resize(static_cast<std::size_t>(H1B) * A);
  q_sum_.resize(H1B);
  q_tmp_.resize(H1B);
  da_.resize(static_cast<std::size_t>(H1B) * A);
  dpi_out_.resize(static_cast<std::size_t>(H1B) * 2 * A);
  sorted_.resize(B);
  row_tasks_.reserve(mc.multitask() ? static_cast<std::size_t>(H1B) : 0);
  noise_.td_eps.resize(static_cast<std::size_t>(HB) * A);
  noise_.pi_eps.resize(static_cast<std::size_t>(H1B) * A);
  noise_.q_masks.resize(static_cast<std::size_t>(mc.num_q) * HB * M);
  noise_.pi_q_masks.resize(static_cast<std::size_t>(2) * H1B * M);
}

void Tdmpc2Agent::reset() { planner_->reset(); }

void Tdmpc2Agent::set_task(int task) {
  LUCID_CHECK(task >= 0 && task < cfg_.num_tasks)
      << "tdmpc2: task " << task << " out of range [0, " << cfg_.num_tasks << ")";
  planners::Planner* p = planners_[static_cast<std::size_t>(planner_of_task_[task])].get();
  // A warm start planned for another task means nothing for this one.
  if (task != task_) p->reset();
  planner_ = p;
  task_ = task;
  model_->set_task(task);
}

std::vector<float> Tdmpc2Agent::act(std::span<const float> obs, bool eval) {
  LUCID_CHECK_SHAPE(static_cast<int>(obs.size()) == cfg_.obs_dim)
      << "tdmpc2 act: expected " << cfg_.obs_dim << " observation values, got " << obs.size();
  for (float v : obs) LUCID_CHECK_SHAPE(std::isfinite(v)) << "tdmpc2 act: non-finite observation value " << v;
  std::copy(obs.begin(), obs.end(), obs_.data());
  // The lookup renormalises the task's embedding row in place, as torch does when planning.
  if (model_->config().multitask()) model_->set_task(task_);
  const Tensor a = planner_->plan(*model_, obs_, rng_, eval);
  std::vector<float> action(a.data(), a.data() + cfg_.action_dim);
  // The planner samples every dim; the task's env reads only its own (the model ignored the rest).
  std::fill(action.begin() + model_->config().task_action_dim(task_), action.end(), 0.f);
  return action;
}

void Tdmpc2Agent::draw_noise(UpdateNoise& n) {
  const auto& mc = model_->config();
  const int B = cfg_.batch_size, H = cfg_.horizon, A = mc.action_dim, M = mc.mlp_dim;
  n.td_eps.resize(static_cast<std::size_t>(H) * B * A);
  n.pi_eps.resize(static_cast<std::size_t>(H + 1) * B * A);
  n.q_masks.resize(static_cast<std::size_t>(mc.num_q) * H * B * M);
  n.pi_q_masks.resize(static_cast<std::size_t>(2) * (H + 1) * B * M);
  pick_two(mc.num_q, rng_, n.td_heads);
  pick_two(mc.num_q, rng_, n.pi_heads);
  rng_.normal(n.td_eps.data(), n.td_eps.size());
  rng_.normal(n.pi_eps.data(), n.pi_eps.size());
  rng_.dropout_mask(n.q_masks.data(), n.q_masks.size(), mc.dropout);
  rng_.dropout_mask(n.pi_q_masks.data(), n.pi_q_masks.size(), mc.dropout);
}

UpdateInfo Tdmpc2Agent::update(ReplayBuffer& buffer) {
  LUCID_CHECK(!model_->config().multitask())
      << "tdmpc2 multitask: the replay buffer does not record task ids; call update_batch(batch, noise, "
         "tasks) with the task of each sampled sub-trajectory";
  LUCID_CHECK(buffer.horizon() == cfg_.horizon)
      << "tdmpc2: buffer horizon " << buffer.horizon() << " != " << cfg_.horizon;
  const Batch& batch = buffer.sample(cfg_.batch_size, rng_);
  draw_noise(noise_);
  return update_batch(batch, noise_);
}

UpdateInfo Tdmpc2Agent::update_batch(const Batch& batch, const UpdateNoise& noise,
                                     std::span<const int> tasks) {
  UpdateInfo info;
  model_update(batch, noise, tasks, info);
  pi_update(noise, info);
  const auto& l = model_->layout();
  const ProfileRange range("update/ema");
  ema_update(model_->target_q(), model_->params().subspan(l.q_begin(), l.q_end() - l.q_begin()), cfg_.tau);
  model_->bump_weights_version();  // the packed weights of planning-size forwards are stale now
  ++updates_;
  return info;
}

void Tdmpc2Agent::add_task_grad(const float* dx, int width, int col, int rows) {
  auto& m = *model_;
  const int td = m.config().task_dim;
  float* g = m.grads().data() + m.layout().task_emb;
  for (int r = 0; r < rows; ++r) {
    const float* src = dx + static_cast<std::size_t>(r) * width + col;
    float* dst = g + static_cast<std::size_t>(row_tasks_[r]) * td;
    for (int j = 0; j < td; ++j) dst[j] += src[j];
  }
}

void Tdmpc2Agent::compute_targets(const Batch& batch, const UpdateNoise& noise, std::span<const int> tasks) {
  auto& m = *model_;
  const auto& mc = m.config();
  const int B = cfg_.batch_size, H = cfg_.horizon, O = mc.obs_dim, HB = H * B;
  LUCID_CHECK_SHAPE(batch.obs.shape() == (Shape{H + 1, B, mc.obs_dim}))
      << "tdmpc2 update: obs " << batch.obs.shape().str() << ", expected (" << H + 1 << ", " << B << ", "
      << mc.obs_dim << ")";
  LUCID_CHECK_SHAPE(batch.action.shape() == (Shape{H, B, mc.action_dim}))
      << "tdmpc2 update: action " << batch.action.shape().str();
  LUCID_CHECK_SHAPE(batch.reward.numel() == static_cast<std::int64_t>(H) * B)
      << "tdmpc2 update: reward " << batch.reward.shape().str();
  row_tasks_.clear();
  if (mc.multitask()) {
    LUCID_CHECK_SHAPE(static_cast<int>(tasks.size()) == B)
        << "tdmpc2 multitask update: " << tasks.size() << " task ids for a batch of " << B;
    for (int t = 0; t <= H; ++t) row_tasks_.insert(row_tasks_.end(), tasks.begin(), tasks.end());
    // The first lookup renormalises the batch's embedding rows in place (torch max_norm).
    m.renorm_task_embeddings(tasks);
  } else {
    LUCID_CHECK_SHAPE(tasks.empty()) << "tdmpc2: task ids given to a single-task agent";
  }
  const float* obs = batch.obs.data();
  const float* rew = batch.reward.data();
  const int* rt = row_tasks();
  const ProfileRange range("update/td_targets");

  // TD targets (no grad): online encoder on obs[1:], policy sample, min of two target heads, each
  // row discounted with its task's discount. Every step is row by row, so the whole chain runs as
  // one job per block of rows (no barrier between the networks), on the update's caches (free until
  // the model loss): the same networks and decode as encode_raw, pi_action_raw and q_raw, with
  // their packed weights of this version.
  const auto& lay = m.layout();
  const int L = mc.latent_dim, A = mc.action_dim, NB = mc.num_bins, TD = mc.task_dim;
  const std::uint64_t version = m.weights_version();
  const int parts = kernels::free_threads();
  mlp_forward_begin(enc_cache_, HB);
  mlp_forward_begin(pi_cache_, HB);
  for (int k = 0; k < 2; ++k) mlp_forward_begin(q_caches_[k], HB);
  kernels::parallel_jobs(parts, [&](int i) {
    const auto [r0, r1] = kernels::block_range(HB, parts, i, 16);
    const int n = r1 - r0;
    const int* tasks = rt ? rt + r0 : nullptr;
    m.input_rows(obs + static_cast<std::size_t>(B + r0) * O, O, nullptr, tasks, n,
                 enc_cache_.input() + static_cast<std::size_t>(r0) * (O + TD));
    mlp_forward_rows(lay.encoder, m.block(lay.encoder), enc_cache_, r0, r1, version);
    float* z = next_z_.data() + static_cast<std::size_t>(r0) * L;
    std::memcpy(z, enc_cache_.output() + static_cast<std::size_t>(r0) * L, sizeof(float) * n * L);
    m.input_rows(z, L, nullptr, tasks, n, pi_cache_.input() + static_cast<std::size_t>(r0) * (L + TD));
    mlp_forward_rows(lay.pi, m.block(lay.pi), pi_cache_, r0, r1, version);
    float* a = td_action_.data() + static_cast<std::size_t>(r0) * A;
    m.pi_action_from_output(pi_cache_.output() + static_cast<std::size_t>(r0) * 2 * A,
                            noise.td_eps.data() + static_cast<std::size_t>(r0) * A, n, a, tasks);
    for (int k = 0; k < 2; ++k) {
      MlpCache& c = q_caches_[k];
      const int h = noise.td_heads[k];
      m.input_rows(z, L, a, tasks, n, c.input() + static_cast<std::size_t>(r0) * (L + TD + A));
      mlp_forward_rows(lay.q[h], m.target_block(h), c, r0, r1, version);
      models::tdmpc2::two_hot_inv_rows(c.output() + static_cast<std::size_t>(r0) * NB, n, mc,
                                       (k == 0 ? td_.data() : td_q_.data()) + r0);
    }
    for (int r = r0; r < r1; ++r) {
      const float gamma = rt ? discounts_[rt[r]] : discounts_[0];
      td_[r] = rew[r] + gamma * std::min(td_[r], td_q_[r]);
    }
  });
}

void Tdmpc2Agent::model_update(const Batch& batch, const UpdateNoise& noise, std::span<const int> tasks,
                               UpdateInfo& info) {
  auto& m = *model_;
  const auto& lay = m.layout();
  const bool mt = m.config().multitask();
  float total = 0.f;
  {
    const ProfileRange range("update/world_model");
    compute_targets(batch, noise, tasks);
    total = model_loss_backward(batch, noise, &info);
  }
  const ProfileRange range("update/optimizer");
  // torch clips model.parameters(): pi's gradients are None there (zero here) and the embedding's
  // are in, so the multitask norm runs over the whole arena.
  const std::span<float> model_grads = mt ? m.grads() : m.grads().subspan(0, lay.q_end());
  const float grad_norm = clip_grad_norm(model_grads, cfg_.grad_clip_norm);
  if (std::isfinite(grad_norm)) {
    optim_.step(m.params(), m.grads());
    m.bump_weights_version();
  }
  // optim.zero_grad(): the embedding's gradient starts from zero for the policy loss.
  if (mt) std::fill(m.grads().begin() + static_cast<std::ptrdiff_t>(lay.task_emb), m.grads().end(), 0.f);
  info["total_loss"] = total;
  info["grad_norm"] = grad_norm;
}

float Tdmpc2Agent::model_loss_backward(const Batch& batch, const UpdateNoise& noise, UpdateInfo* info) {
  auto& m = *model_;
  const auto& mc = m.config();
  const auto& lay = m.layout();
  const int B = cfg_.batch_size, H = cfg_.horizon, A = mc.action_dim, L = mc.latent_dim, O = mc.obs_dim;
  const int M = mc.mlp_dim, NB = mc.num_bins, HB = H * B, TD = mc.task_dim, ZA = L + TD + A;
  const bool mt = mc.multitask();
  const float* obs = batch.obs.data();
  const float* act = batch.action.data();
  const float* rew = batch.reward.data();
  const int* rt = row_tasks();

  // Multitask keeps the embedding's gradient: what the last policy loss left there (see the header).
  kernels::fill_cpu(m.grads().data(), static_cast<std::int64_t>(mt ? lay.task_emb : m.grads().size()), 0.f);
  kernels::fill_cpu(dz_.data(), static_cast<std::int64_t>(dz_.size()), 0.f);

  // Latent rollout and consistency loss: row by row until the loss sum, so encoder and dynamics run
  // as one job per block of rows (as the targets); the squared errors are summed after, in row order.
  const float cons_scale = cfg_.consistency_coef * 2.f / (static_cast<float>(B) * L * H);
  const std::vector<float>& step_w = step_w_;
  mlp_forward_begin(enc_cache_, B);
  for (MlpCache& c : dyn_caches_) mlp_forward_begin(c, B);
  const int parts = kernels::free_threads();
  kernels::parallel_jobs(parts, [&](int i) {
    const auto [r0, r1] = kernels::block_range(B, parts, i, 16);
    const int n = r1 - r0;
    const int* tasks = rt ? rt + r0 : nullptr;
    m.input_rows(obs + static_cast<std::size_t>(r0) * O, O, nullptr, tasks, n,
                 enc_cache_.input() + static_cast<std::size_t>(r0) * (O + TD));
    mlp_forward_rows(lay.encoder, m.block(lay.encoder), enc_cache_, r0, r1);
    std::memcpy(zs_.data() + static_cast<std::size_t>(r0) * L,
                enc_cache_.output() + static_cast<std::size_t>(r0) * L, sizeof(float) * n * L);
    for (int t = 0; t < H; ++t) {
      MlpCache& c = dyn_caches_[t];
      const std::size_t zt = (static_cast<std::size_t>(t) * B + r0) * L;
      m.input_rows(zs_.data() + zt, L, act + (static_cast<std::size_t>(t) * B + r0) * A, tasks, n,
                   c.input() + static_cast<std::size_t>(r0) * ZA);
      mlp_forward_rows(lay.dynamics, m.block(lay.dynamics), c, r0, r1);
      const std::size_t z1 = zt + static_cast<std::size_t>(B) * L;  // step t + 1, same rows
      std::memcpy(zs_.data() + z1, c.output() + static_cast<std::size_t>(r0) * L, sizeof(float) * n * L);
      consistency_step(zs_.data() + z1, next_z_.data() + zt, n, L, step_w[t] * cons_scale, dz_.data() + z1,
                       row_se_.data() + static_cast<std::size_t>(t) * B + r0);
    }
  });
  float consistency = 0.f;
  for (int t = 0; t < H; ++t) {
    double se = 0.0;
    for (int b = 0; b < B; ++b) se += row_se_[static_cast<std::size_t>(t) * B + b];
    consistency += step_w[t] * static_cast<float>(se / (static_cast<double>(B) * L));
  }
  consistency /= static_cast<float>(H);

  m.input_rows(zs_.data(), L, act, rt, HB, rew_cache_.input());
  // Two-hot soft cross-entropy of all H steps in one kernel pass (rho_soft_ce.h); row t * B + b
  // carries the gradient weight coef * rho^t / (B H).
  const RhoSoftCeShape ce{H, B, NB, mc.vmin, mc.vmax, cfg_.rho};
  const int n_heads = 1 + mc.num_q;  // job 0: reward; job 1 + q: Q head q
  kernels::parallel_jobs(n_heads, [&](int j) {
    if (j == 0) {
      head_loss_job(lay.reward, m.block(lay.reward), m.grad_block(lay.reward), rew_cache_, nullptr, rew,
                    cfg_.reward_coef, ce, head_scratch_[0]);
      return;
    }
    const int q = j - 1;
    kernels::copy_cpu(rew_cache_.input(), q_caches_[q].input(), std::int64_t{HB} * ZA);
    head_loss_job(lay.q[q], m.block(lay.q[q]), m.grad_block(lay.q[q]), q_caches_[q],
                  noise.q_masks.data() + static_cast<std::size_t>(q) * HB * M, td_.data(),
                  cfg_.value_coef / static_cast<float>(mc.num_q), ce, head_scratch_[j]);
  });
  const float reward_loss = head_scratch_[0].loss;
  float value_loss = 0.f;
  for (int j = 0; j < n_heads; ++j) {
    if (j > 0) value_loss += head_scratch_[j].loss;
    add_latent_grad(head_scratch_[j].dx.data(), L, ZA, HB, dz_.data());
    if (mt) add_task_grad(head_scratch_[j].dx.data(), ZA, L, HB);
  }
  value_loss /= static_cast<float>(mc.num_q);

  // Back through the dynamics (last step first), then the encoder.
  for (int t = H - 1; t >= 0; --t) {
    mlp_backward(lay.dynamics, m.block(lay.dynamics), m.grad_block(lay.dynamics), dyn_caches_[t],
                 dz_.data() + static_cast<std::size_t>(t + 1) * B * L, dx_.data());
    add_latent_grad(dx_.data(), L, ZA, B, dz_.data() + static_cast<std::size_t>(t) * B * L);
    if (mt) add_task_grad(dx_.data(), ZA, L, B);
  }
  mlp_backward(lay.encoder, m.block(lay.encoder), m.grad_block(lay.encoder), enc_cache_, dz_.data(),
               mt ? dx_.data() : nullptr);
  if (mt) add_task_grad(dx_.data(), O + TD, O, B);

  if (info) {
    (*info)["consistency_loss"] = consistency;
    (*info)["reward_loss"] = reward_loss;
    (*info)["value_loss"] = value_loss;
  }
  return cfg_.consistency_coef * consistency + cfg_.reward_coef * reward_loss + cfg_.value_coef * value_loss;
}

void Tdmpc2Agent::pi_update(const UpdateNoise& noise, UpdateInfo& info) {
  auto& m = *model_;
  const auto& lay = m.layout();
  {
    const ProfileRange range("update/policy");
    pi_loss_backward(noise, true, &info);
  }
  const ProfileRange range("update/optimizer");
  const std::span<float> pi_grads = m.grads().subspan(lay.pi.begin(), lay.pi.size());
  const float pi_norm = clip_grad_norm(pi_grads, cfg_.grad_clip_norm);
  if (std::isfinite(pi_norm)) {
    pi_optim_.step(m.params(), m.grads());
    m.bump_weights_version();
  }
  info["pi_grad_norm"] = pi_norm;
}

float Tdmpc2Agent::pi_loss_backward(const UpdateNoise& noise, bool update_scale, UpdateInfo* info) {
  auto& m = *model_;
  const auto& mc = m.config();
  const auto& lay = m.layout();
  const int B = cfg_.batch_size, H = cfg_.horizon, A = mc.action_dim, L = mc.latent_dim, M = mc.mlp_dim;
  const int R = (H + 1) * B, TD = mc.task_dim, ZA = L + TD + A;
  const bool mt = mc.multitask();
  const int* rt = row_tasks();
  const float dif = mc.log_std_max - mc.log_std_min;
  constexpr float kHalfLog2Pi = 0.9189385175704956f;
  // The model step may have pushed a row past norm 1: the policy's lookup renormalises it again.
  if (mt) m.renorm_task_embeddings(std::span<const int>(row_tasks_.data(), B));

  // Policy on the detached latents: a = tanh(mu + eps * exp(log_std)) (multitask: mean, log_std and
  // eps masked to the row's task, so a padded dim's action is tanh(0) = 0 and carries no gradient),
  // then Q of the two chosen heads (updated weights, no parameter gradient; dropout on as in train
  // mode). All row by row: one job per block of rows runs the chain (see compute_targets), each
  // head decoding into its own scratch; the two are summed after, in head order.
  const float* out = pi_cache_.output();
  const float* eps = noise.pi_eps.data();
  mlp_forward_begin(pi_cache_, R);
  for (int k = 0; k < 2; ++k)
    mlp_forward_begin(q_caches_[k], R, noise.pi_q_masks.data() + static_cast<std::size_t>(k) * R * M);
  const int parts = kernels::free_threads();
  kernels::parallel_jobs(parts, [&](int i) {
    const auto [r0, r1] = kernels::block_range(R, parts, i, 16);
    const int n = r1 - r0;
    const int* tasks = rt ? rt + r0 : nullptr;
    const float* z = zs_.data() + static_cast<std::size_t>(r0) * L;
    m.input_rows(z, L, nullptr, tasks, n, pi_cache_.input() + static_cast<std::size_t>(r0) * (L + TD));
    mlp_forward_rows(lay.pi, m.block(lay.pi), pi_cache_, r0, r1);
    float* a = pi_action_.data() + static_cast<std::size_t>(r0) * A;
    m.pi_action_from_output(out + static_cast<std::size_t>(r0) * 2 * A,
                            eps + static_cast<std::size_t>(r0) * A, n, a, tasks);
    for (int k = 0; k < 2; ++k) {
      MlpCache& c = q_caches_[k];
      m.input_rows(z, L, a, tasks, n, c.input() + static_cast<std::size_t>(r0) * ZA);
      mlp_forward_rows(lay.q[noise.pi_heads[k]], m.block(lay.q[noise.pi_heads[k]]), c, r0, r1);
      models::tdmpc2::two_hot_inv_rows(c.output() + static_cast<std::size_t>(r0) * mc.num_bins, n, mc,
                                       head_scratch_[k].ce.data() + r0);
    }
  });
  std::fill(q_sum_.begin(), q_sum_.end(), 0.f);
  for (int k = 0; k < 2; ++k)
    for (int r = 0; r < R; ++r) q_sum_[r] += 0.5f * head_scratch_[k].ce[r];

  // RunningScale: lerp towards max(P95 - P5, 1) of the first step's Q.
  if (update_scale) {
    std::copy(q_sum_.begin(), q_sum_.begin() + B, sorted_.begin());
    const float spread = std::max(percentile_spread(std::span<float>(sorted_.data(), B)), 1.f);
    scale_ += cfg_.tau * (spread - scale_);
  }

  // Loss = mean_t rho^t mean_b -(c * scaled_entropy + q / S); gradients per row.
  std::fill(da_.begin(), da_.end(), 0.f);
  float loss = 0.f, entropy_sum = 0.f, w = 1.f;
  for (int t = 0; t <= H; ++t, w *= cfg_.rho) {
    const float row_w = w / (static_cast<float>(H + 1) * B);
    for (int b = 0; b < B; ++b) {
      const int r = t * B + b;
      const int valid = rt ? mc.task_action_dim(rt[r]) : A;
      const float* o = out + static_cast<std::size_t>(r) * 2 * A;
      float lp_gauss = 0.f, correction = 0.f;
      for (int j = 0; j < A; ++j) {
        const std::size_t i = static_cast<std::size_t>(r) * A + j;
        // A padded dim (eps = log_std = 0) still adds -log(2 pi) / 2 and log(1 + 1e-6), as in the
        // official gaussian_logprob and squash, which sum over every dim.
        const float log_std = j < valid ? mc.log_std_min + 0.5f * dif * (std::tanh(o[A + j]) + 1.f) : 0.f;
        const float e = j < valid ? eps[i] : 0.f;
        lp_gauss += -0.5f * e * e - log_std - kHalfLog2Pi;
        const float a = pi_action_[i];
        correction += std::log(std::max(1.f - a * a, 0.f) + 1e-6f);
      }
      const float lp = lp_gauss - correction;
      // Scaled by the task's own action dims (official: action_masks.sum(-1)[task]).
      const float slp = lp_gauss * static_cast<float>(valid);
      // scaled_entropy = -lp * (slp / (lp + 1e-8)), differentiated through both factors.
      const float den = lp + 1e-8f;
      const float se = -lp * (slp / den);
      loss += row_w * -(cfg_.entropy_coef * se + q_sum_[r] / scale_);
      entropy_sum += se;
      const float g_se = -row_w * cfg_.entropy_coef;
      const float g_q = -row_w / scale_;
      q_tmp_[r] = 0.5f * g_q;  // d loss / d (each head's decoded value)
      const float g_lp = g_se * (-slp / den + lp * slp / (den * den));
      const float g_slp = g_se * (-lp / den);
      const float g_lpg = g_lp + g_slp * static_cast<float>(valid);
      float* dout = dpi_out_.data() + static_cast<std::size_t>(r) * 2 * A;
      for (int j = 0; j < A; ++j) {
        const std::size_t i = static_cast<std::size_t>(r) * A + j;
        if (j >= valid) {  // masked outputs: no gradient reaches mean or log_std
          da_[i] = 0.f;
          dout[j] = dout[A + j] = 0.f;
          continue;
        }
        const float a = pi_action_[i];
        const float one_m = 1.f - a * a;
        // lp = lp_gauss - sum log(relu(1 - a^2) + 1e-6): d/da = 2a / (relu(1 - a^2) + 1e-6) when 1 - a^2 > 0.
        da_[i] = one_m > 0.f ? g_lp * 2.f * a / (one_m + 1e-6f) : 0.f;
        const float th = std::tanh(o[A + j]);
        const float log_std = mc.log_std_min + 0.5f * dif * (th + 1.f);
        // Stash the log_std path (from lp_gauss) and the pre-tanh std for after the Q backward.
        dout[A + j] = -g_lpg;  // d loss / d log_std from lp_gauss, completed below
        dout[j] = eps[i] * std::exp(log_std);
      }
    }
  }

  // Q backward to the action (two heads, each weighted 1/2); the Q weights are detached, the task
  // embedding in Q's input is not (official: Q(zs, action, task, detach=True)).
  kernels::parallel_jobs(2, [&](int k) {
    const Mlp& head = lay.q[noise.pi_heads[k]];
    MlpCache& c = q_caches_[k];
    HeadScratch& s = head_scratch_[k];
    models::tdmpc2::two_hot_inv_backward_rows(c.output(), q_tmp_.data(), R, mc, s.dlogits.data());
    // The latent is detached: only the columns from the task embedding on get a gradient.
    mlp_backward(head, m.block(head), nullptr, c, s.dlogits.data(), s.dx.data(), L);
  });
  for (int k = 0; k < 2; ++k) {
    const float* dx = head_scratch_[k].dx.data();
    for (int r = 0; r < R; ++r) {
      const float* mask = mt ? m.action_mask(rt[r]) : nullptr;
      for (int j = 0; j < A; ++j) {
        const float g = dx[static_cast<std::size_t>(r) * ZA + L + TD + j];
        da_[static_cast<std::size_t>(r) * A + j] += mask ? mask[j] * g : g;
      }
    }
    if (mt) add_task_grad(dx, ZA, L, R);
  }

  // Through tanh, the reparameterisation and the log_std squashing into the policy outputs.
  for (int r = 0; r < R; ++r) {
    const float* o = out + static_cast<std::size_t>(r) * 2 * A;
    float* dout = dpi_out_.data() + static_cast<std::size_t>(r) * 2 * A;
    for (int j = 0; j < A; ++j) {
      const std::size_t i = static_cast<std::size_t>(r) * A + j;
      const float a = pi_action_[i];
      const float dpre = da_[i] * (1.f - a * a);
      const float eps_std = dout[j];
      const float dlog_std = dout[A + j] + dpre * eps_std;
      const float th = std::tanh(o[A + j]);
      dout[j] = dpre;
      dout[A + j] = dlog_std * 0.5f * dif * (1.f - th * th);
    }
  }
  mlp_backward(lay.pi, m.block(lay.pi), m.grad_block(lay.pi), pi_cache_, dpi_out_.data(),
               mt ? dx_.data() : nullptr);
  if (mt) add_task_grad(dx_.data(), L + TD, L, R);
  if (info) {
    (*info)["pi_loss"] = loss;
    (*info)["pi_scale"] = scale_;
    (*info)["pi_entropy"] = entropy_sum / static_cast<float>(R);
  }
  return loss;
}

AgentState Tdmpc2Agent::state() const {
  AgentState s;
  auto add = [&](const std::string& name, std::span<const float> v) {
    s.tensors.push_back(
        {name, {static_cast<std::int64_t>(v.size())}, std::vector<float>(v.begin(), v.end())});
  };
  add("model.params", model_->params());
  add("model.target_q", model_->target_q());
  add("optim.exp_avg", optim_.exp_avg());
  add("optim.exp_avg_sq", optim_.exp_avg_sq());
  add("pi_optim.exp_avg", pi_optim_.exp_avg());
  add("pi_optim.exp_avg_sq", pi_optim_.exp_avg_sq());
  const float scale[1] = {scale_};
  add("pi_scale", scale);
  if (model_->config().multitask()) {
    // The policy loss's embedding gradient that the next model update adds to (see the header).
    const auto& l = model_->layout();
    add("model.task_emb_grad", std::span<const float>(model_->grads()).subspan(l.task_emb));
    s.scalars["task"] = std::to_string(task_);
  }
  s.scalars["optim.step"] = std::to_string(optim_.step_count());
  s.scalars["pi_optim.step"] = std::to_string(pi_optim_.step_count());
  s.scalars["rng.seed"] = std::to_string(rng_.seed());
  s.scalars["rng.offset"] = std::to_string(rng_.offset());
  s.scalars["updates"] = std::to_string(updates_);
  s.scalars["model_size"] = std::to_string(cfg_.model_size);
  return s;
}

void Tdmpc2Agent::load_state(const AgentState& s) {
  const StateReader in(s, "tdmpc2");
  LUCID_CHECK_AS(in.scalar("model_size") == cfg_.model_size, IoError)
      << "tdmpc2 state: saved model_size " << in.scalar("model_size") << " != " << cfg_.model_size;
  in.copy("model.params", model_->params());
  in.copy("model.target_q", model_->target_q());
  in.copy("optim.exp_avg", optim_.exp_avg());
  in.copy("optim.exp_avg_sq", optim_.exp_avg_sq());
  in.copy("pi_optim.exp_avg", pi_optim_.exp_avg());
  in.copy("pi_optim.exp_avg_sq", pi_optim_.exp_avg_sq());
  scale_ = in.tensor("pi_scale", 1)[0];
  if (model_->config().multitask()) {
    in.copy("model.task_emb_grad", model_->grads().subspan(model_->layout().task_emb));
    task_ = static_cast<int>(in.scalar("task"));
    LUCID_CHECK_AS(task_ >= 0 && task_ < cfg_.num_tasks, IoError)
        << "tdmpc2 state: task " << task_ << " out of range";
    planner_ = planners_[static_cast<std::size_t>(planner_of_task_[task_])].get();
  }
  optim_.set_step_count(in.scalar("optim.step"));
  pi_optim_.set_step_count(in.scalar("pi_optim.step"));
  rng_ = Rng(static_cast<std::uint64_t>(in.scalar("rng.seed")), 0);
  rng_.set_offset(static_cast<std::uint64_t>(in.scalar("rng.offset")));
  updates_ = in.scalar("updates");
  model_->bump_weights_version();
  for (auto& p : planners_) p->reset();
}

}  // namespace lucid::agents
