// TD-MPC2's update on the CUDA device (see tdmpc2_update_cuda.h). The order of operations is
// Tdmpc2Agent's (agents/tdmpc2/tdmpc2_agent.cc), step for step; comments name the CPU step mirrored.
#include "lucid/agents/tdmpc2_update_cuda.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "lucid/engine/cuda_launchers.h"
#include "lucid/engine/profile.h"
#include "lucid/error.h"

namespace lucid::agents {
namespace {

using models::tdmpc2::Mlp;
using models::tdmpc2::mlp_backward_cuda;
using models::tdmpc2::mlp_forward_train_cuda;
using models::tdmpc2::MlpCacheCuda;

Tensor dev(std::int64_t rows, std::int64_t cols) { return Tensor::zeros(Shape{rows, cols}, Device::kCuda); }

Tensor upload(std::span<const float> host) {
  return Tensor::from(std::vector<float>(host.begin(), host.end()),
                      Shape{static_cast<std::int64_t>(host.size())})
      .to(Device::kCuda);
}

// dst (the first n floats of a device tensor) = host.
void upload_into(const Tensor& dst, std::span<const float> host) {
  const auto n = static_cast<std::int64_t>(host.size());
  LUCID_CHECK_SHAPE(n <= dst.numel()) << "device update: " << n << " floats into a buffer of " << dst.numel();
  dst.view(Shape{dst.numel()})
      .view_rows(0, n)
      .copy_from(Tensor::from(std::vector<float>(host.begin(), host.end()), Shape{n}));
}

// rho_soft_ce's per-row gradient weights: coef * rho^t / (B H), in its float order.
std::vector<float> rho_row_weights(int H, int B, float rho, float coef) {
  std::vector<float> g(static_cast<std::size_t>(H) * B);
  float wt = 1.f;
  for (int t = 0; t < H; ++t, wt *= rho)
    for (int b = 0; b < B; ++b)
      g[static_cast<std::size_t>(t) * B + b] = coef * wt / (static_cast<float>(B) * H);
  return g;
}

}  // namespace

Tdmpc2UpdateCuda::Tdmpc2UpdateCuda(Tdmpc2Agent& agent)
    : cfg_(agent.config()),
      mc_(agent.model().config()),
      lay_(agent.model().layout()),
      discount_(agent.discount()) {
  LUCID_CHECK(!mc_.multitask()) << "TD-MPC2 update on CUDA: single-task models only";
  cuda_launchers();  // the "no CUDA backend" error here, not mid-update
  const auto& model = std::as_const(agent.model());
  params_ = upload(model.params());
  grads_ = Tensor::zeros(params_.shape(), Device::kCuda);
  target_ = upload(model.target_q());
  exp_avg_ = Tensor::zeros(params_.shape(), Device::kCuda);
  exp_avg_sq_ = Tensor::zeros(params_.shape(), Device::kCuda);
  steps_ = Tensor::zeros(Shape{4}, Device::kCuda);  // two int64 counts, 0 bits = 0
  sumsq_ = Tensor::zeros(Shape{2}, Device::kCuda);  // one double
  // Tdmpc2Agent's two Adams: the model groups at lr (encoder scaled), eps 1e-8; pi at lr, eps 1e-5.
  const std::vector<ParamGroup> groups = tdmpc2_model_groups(agent.model(), cfg_.enc_lr_scale);
  LUCID_CHECK(static_cast<int>(groups.size()) <= kernels::AdamGroups::kMax) << "too many parameter groups";
  for (const ParamGroup& g : groups) {
    const int i = model_groups_.count++;
    model_groups_.offset[i] = g.offset;
    model_groups_.size[i] = g.size;
    model_groups_.lr[i] = cfg_.lr * g.lr_scale;
  }
  pi_groups_.count = 1;
  pi_groups_.offset[0] = lay_.pi.begin();
  pi_groups_.size[0] = lay_.pi.size();
  pi_groups_.lr[0] = cfg_.lr * 1.f;
  scalars_ = upload(std::vector<float>{agent.pi_scale(), 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f});
  heads_ = Tensor::zeros(Shape{4}, Device::kCuda);
  head_size_ = static_cast<std::int64_t>(lay_.q.front().size());
  for (int h = 0; h < mc_.num_q; ++h)
    LUCID_CHECK(lay_.q[h].begin() == lay_.q_begin() + static_cast<std::size_t>(h) * lay_.q.front().size() &&
                lay_.q[h].size() == lay_.q.front().size())
        << "TD-MPC2 update on CUDA: the Q heads must be equal blocks laid out one after the other";
  sel_target_ = dev(2, head_size_);
  sel_online_ = dev(2, head_size_);
  const int B = cfg_.batch_size, H = cfg_.horizon, HB = H * B, R = (H + 1) * B;
  const int O = mc_.obs_dim, A = mc_.action_dim, L = mc_.latent_dim, M = mc_.mlp_dim, ZA = L + A;
  obs_ = dev(R, O);
  act_ = dev(HB, A);
  rew_ = dev(HB, 1);
  td_eps_ = dev(HB, A);
  pi_eps_ = dev(R, A);
  q_masks_ = dev(static_cast<std::int64_t>(mc_.num_q) * HB, M);
  pi_q_masks_ = dev(2 * R, M);
  td_action_ = dev(HB, A);
  td_q_a_ = dev(HB, 1);
  td_q_b_ = dev(HB, 1);
  td_ = dev(HB, 1);
  zs_ = dev(R, L);
  dz_ = dev(R, L);
  dx_ = dev(R, ZA);
  dlogits_ = dev(R, std::max(mc_.num_bins, 2 * A));
  ce_ = dev(HB, 1);
  lse_ = dev(HB, 1);
  gloss_rew_ = upload(rho_row_weights(H, B, cfg_.rho, cfg_.reward_coef));
  gloss_val_ = upload(rho_row_weights(H, B, cfg_.rho, cfg_.value_coef / static_cast<float>(mc_.num_q)));
  row_se_ = dev(B, 2);  // B doubles
  pi_action_ = dev(R, A);
  q_a_ = dev(R, 1);
  q_b_ = dev(R, 1);
  q_sum_ = dev(R, 1);
  g_q_ = dev(R, 1);
  da_ = dev(R, A);
  stash_ = dev(R, 2 * A);
  dpi_out_ = dev(R, 2 * A);
  row_loss_ = dev(R, 1);
  row_entropy_ = dev(R, 1);
  enc_cache_.reserve(lay_.encoder, B);
  target_enc_cache_.reserve(lay_.encoder, HB);
  target_pi_cache_.reserve(lay_.pi, HB);
  rew_cache_.reserve(lay_.reward, HB);
  pi_cache_.reserve(lay_.pi, R);
  dyn_caches_.resize(static_cast<std::size_t>(H));
  for (auto& c : dyn_caches_) c.reserve(lay_.dynamics, B);
  q_caches_.resize(static_cast<std::size_t>(mc_.num_q));
  for (int q = 0; q < mc_.num_q; ++q) q_caches_[static_cast<std::size_t>(q)].reserve(lay_.q[q], HB);
  target_q_caches_.resize(2);
  pi_q_caches_.resize(2);
  for (auto& c : target_q_caches_) c.reserve(lay_.q.front(), HB);
  for (auto& c : pi_q_caches_) c.reserve(lay_.q.front(), R);
}

float Tdmpc2UpdateCuda::pi_scale() const { return scalars_.view_rows(0, 1).to_vector()[0]; }

UpdateInfo Tdmpc2UpdateCuda::update_batch(const Batch& batch, const UpdateNoise& noise) {
  const int B = cfg_.batch_size, H = cfg_.horizon, HB = H * B, R = (H + 1) * B;
  const int O = mc_.obs_dim, A = mc_.action_dim, M = mc_.mlp_dim;
  LUCID_CHECK_SHAPE(batch.obs.shape() == (Shape{H + 1, B, O}) && batch.action.shape() == (Shape{H, B, A}) &&
                    batch.reward.numel() == static_cast<std::int64_t>(HB))
      << "tdmpc2 device update: obs " << batch.obs.shape().str() << ", action " << batch.action.shape().str()
      << ", reward " << batch.reward.shape().str() << " for batch " << B << ", horizon " << H;
  LUCID_CHECK_SHAPE(noise.td_eps.size() == static_cast<std::size_t>(HB) * A &&
                    noise.pi_eps.size() == static_cast<std::size_t>(R) * A &&
                    noise.q_masks.size() == static_cast<std::size_t>(mc_.num_q) * HB * M &&
                    noise.pi_q_masks.size() == static_cast<std::size_t>(2) * R * M)
      << "tdmpc2 device update: noise sized for another batch (draw it with Tdmpc2Agent::draw_noise)";
  for (int h : {noise.td_heads[0], noise.td_heads[1], noise.pi_heads[0], noise.pi_heads[1]})
    LUCID_CHECK(h >= 0 && h < mc_.num_q) << "tdmpc2 device update: Q head " << h << " out of range";
  auto host = [](const Tensor& t) {
    return std::span<const float>(t.data(), static_cast<std::size_t>(t.numel()));
  };
  upload_into(obs_, host(batch.obs));
  upload_into(act_, host(batch.action));
  upload_into(rew_, host(batch.reward));
  upload_into(td_eps_, noise.td_eps);
  upload_into(pi_eps_, noise.pi_eps);
  upload_into(q_masks_, noise.q_masks);
  upload_into(pi_q_masks_, noise.pi_q_masks);
  upload_into(heads_, std::vector<float>{
                          static_cast<float>(noise.td_heads[0]), static_cast<float>(noise.td_heads[1]),
                          static_cast<float>(noise.pi_heads[0]), static_cast<float>(noise.pi_heads[1])});

  graph_.run(use_graph_, [this] { run(); });  // uncaptured first, captured second, replayed after

  // The losses, finished on the host as the CPU finishes them.
  const std::vector<float> s = scalars_.to_vector();
  UpdateInfo info;
  const float consistency = s[1] / static_cast<float>(H);
  const float reward = s[2];
  const float value = s[3] / static_cast<float>(mc_.num_q);
  info["consistency_loss"] = consistency;
  info["reward_loss"] = reward;
  info["value_loss"] = value;
  info["total_loss"] =
      cfg_.consistency_coef * consistency + cfg_.reward_coef * reward + cfg_.value_coef * value;
  info["grad_norm"] = s[6];
  info["pi_loss"] = s[4];
  info["pi_scale"] = s[0];
  info["pi_entropy"] = s[5] / static_cast<float>(R);
  info["pi_grad_norm"] = s[7];
  return info;
}

void Tdmpc2UpdateCuda::run() {
  const int B = cfg_.batch_size, H = cfg_.horizon, HB = H * B;
  const int O = mc_.obs_dim, A = mc_.action_dim, L = mc_.latent_dim;
  const CudaLaunchers& k = cuda_launchers();
  auto* steps = reinterpret_cast<std::int64_t*>(steps_.data());
  auto* sumsq = reinterpret_cast<double*>(sumsq_.data());
  k.fill(scalars_.data() + 1, 7, 0.f, k.stream);
  {
    const ProfileRange range("update/world_model");
    // compute_targets: online encoder on obs[1:], the noisy policy action, min of two target heads
    // (copied out of the target block by their drawn indices).
    k.select_blocks(target_.data(), head_size_, heads_.data(), 2, sel_target_.data(), k.stream);
    k.copy_rows(obs_.data() + static_cast<std::size_t>(B) * O, O, target_enc_cache_.input(), O, HB, O,
                k.stream);
    mlp_forward_train_cuda(lay_.encoder, block(lay_.encoder), target_enc_cache_, HB);
    const float* next_z = target_enc_cache_.output();
    k.copy_rows(next_z, L, target_pi_cache_.input(), L, HB, L, k.stream);
    mlp_forward_train_cuda(lay_.pi, block(lay_.pi), target_pi_cache_, HB);
    k.pi_actions(target_pi_cache_.output(), td_eps_.data(), HB, A, mc_.log_std_min, mc_.log_std_max,
                 td_action_.data(), k.stream);
    for (int i = 0; i < 2; ++i) {
      MlpCacheCuda& c = target_q_caches_[static_cast<std::size_t>(i)];
      k.copy_rows(next_z, L, c.input(), L + A, HB, L, k.stream);
      k.copy_rows(td_action_.data(), A, c.input() + L, L + A, HB, A, k.stream);
      mlp_forward_train_cuda(lay_.q.front(), sel_target_.data() + i * head_size_, c, HB);
      k.q_head_decode_forward(c.output(), nullptr, nullptr, (i == 0 ? td_q_a_ : td_q_b_).data(), 1, HB,
                              mc_.num_bins, mc_.vmin, mc_.vmax, 0, 0, kernels::QCombine::kAvg, k.stream);
    }
    const kernels::Dims4 dims{{1, 1, 1, HB}};
    k.binary_forward(kernels::BinaryOp::kMin, td_q_a_.data(), dims, td_q_b_.data(), dims, td_q_a_.data(),
                     dims, k.stream);
    k.copy_rows(rew_.data(), 1, td_.data(), 1, HB, 1, k.stream);
    k.rollout_accumulate(td_.data(), td_q_a_.data(), discount_, false, HB, k.stream);  // r + gamma min
    model_loss_backward();
  }
  {
    // clip_grad_norm over [0, q_end), then Adam unless the norm is not finite.
    const ProfileRange range("update/optimizer");
    const auto n_model = static_cast<std::size_t>(lay_.q_end());
    k.sumsq(grads_.data(), n_model, sumsq, k.stream);
    k.clip_by_norm(grads_.data(), n_model, sumsq, cfg_.grad_clip_norm, scalars_.data() + 6, k.stream);
    k.step_increment(steps, scalars_.data() + 6, k.stream);
    k.adam_arena_step_device(params_.data(), grads_.data(), exp_avg_.data(), exp_avg_sq_.data(),
                             model_groups_, 0.9f, 0.999f, 1e-8f, steps, scalars_.data() + 6, k.stream);
  }
  {
    const ProfileRange range("update/policy");
    k.select_blocks(params_.data() + lay_.q_begin(), head_size_, heads_.data() + 2, 2, sel_online_.data(),
                    k.stream);
    pi_loss_backward();
  }
  {
    const ProfileRange range("update/optimizer");
    float* pi_grads = grads_.data() + lay_.pi.begin();
    k.sumsq(pi_grads, lay_.pi.size(), sumsq, k.stream);
    k.clip_by_norm(pi_grads, lay_.pi.size(), sumsq, cfg_.grad_clip_norm, scalars_.data() + 7, k.stream);
    k.step_increment(steps + 1, scalars_.data() + 7, k.stream);
    k.adam_arena_step_device(params_.data(), grads_.data(), exp_avg_.data(), exp_avg_sq_.data(), pi_groups_,
                             0.9f, 0.999f, 1e-5f, steps + 1, scalars_.data() + 7, k.stream);
  }
  {
    const ProfileRange range("update/ema");
    k.ema_lerp(target_.data(), params_.data() + lay_.q_begin(), static_cast<std::size_t>(target_.numel()),
               cfg_.tau, k.stream);
  }
}

void Tdmpc2UpdateCuda::model_loss_backward() {
  const int B = cfg_.batch_size, H = cfg_.horizon, HB = H * B;
  const int O = mc_.obs_dim, A = mc_.action_dim, L = mc_.latent_dim, M = mc_.mlp_dim, ZA = L + A;
  const int NB = mc_.num_bins;
  const CudaLaunchers& k = cuda_launchers();
  k.fill(grads_.data(), grads_.numel(), 0.f, k.stream);
  k.fill(dz_.data(), dz_.numel(), 0.f, k.stream);
  const std::size_t BL = static_cast<std::size_t>(B) * L;

  // Latent rollout and consistency loss.
  k.copy_rows(obs_.data(), O, enc_cache_.input(), O, B, O, k.stream);
  mlp_forward_train_cuda(lay_.encoder, block(lay_.encoder), enc_cache_, B);
  k.copy_rows(enc_cache_.output(), L, zs_.data(), L, B, L, k.stream);
  const float cons_scale = cfg_.consistency_coef * 2.f / (static_cast<float>(B) * L * H);
  auto* row_se = reinterpret_cast<double*>(row_se_.data());
  float w = 1.f;
  for (int t = 0; t < H; ++t, w *= cfg_.rho) {
    MlpCacheCuda& c = dyn_caches_[static_cast<std::size_t>(t)];
    k.copy_rows(zs_.data() + t * BL, L, c.input(), ZA, B, L, k.stream);
    k.copy_rows(act_.data() + static_cast<std::size_t>(t) * B * A, A, c.input() + L, ZA, B, A, k.stream);
    mlp_forward_train_cuda(lay_.dynamics, block(lay_.dynamics), c, B);
    float* z = zs_.data() + (t + 1) * BL;
    k.copy_rows(c.output(), L, z, L, B, L, k.stream);
    k.consistency_rows(z, target_enc_cache_.output() + t * BL, B, L, w * cons_scale,
                       dz_.data() + (t + 1) * BL, row_se, k.stream);
    k.consistency_total(row_se, B, L, w, scalars_.data() + 1, k.stream);
  }

  // Reward and value losses over all H steps at once.
  k.copy_rows(zs_.data(), L, rew_cache_.input(), ZA, HB, L, k.stream);
  k.copy_rows(act_.data(), A, rew_cache_.input() + L, ZA, HB, A, k.stream);
  mlp_forward_train_cuda(lay_.reward, block(lay_.reward), rew_cache_, HB);
  auto soft_ce = [&](const float* logits, const float* target, const Tensor& gloss, float* acc) {
    k.soft_ce_forward(logits, target, ce_.data(), lse_.data(), HB, NB, mc_.vmin, mc_.vmax, k.stream);
    k.rho_ce_loss(ce_.data(), H, B, cfg_.rho, acc, k.stream);
    k.soft_ce_backward(logits, target, lse_.data(), gloss.data(), dlogits_.data(), HB, NB, mc_.vmin, mc_.vmax,
                       k.stream);
  };
  soft_ce(rew_cache_.output(), rew_.data(), gloss_rew_, scalars_.data() + 2);
  mlp_backward_cuda(lay_.reward, block(lay_.reward), grad_block(lay_.reward), rew_cache_, dlogits_.data(),
                    dx_.data());
  k.accumulate_rows(dx_.data(), ZA, dz_.data(), L, HB, L, k.stream);
  for (int q = 0; q < mc_.num_q; ++q) {
    MlpCacheCuda& c = q_caches_[static_cast<std::size_t>(q)];
    const Mlp& head = lay_.q[q];
    k.copy_rows(rew_cache_.input(), ZA, c.input(), ZA, HB, ZA, k.stream);
    mlp_forward_train_cuda(head, block(head), c, HB, q_masks_.data() + static_cast<std::size_t>(q) * HB * M);
    soft_ce(c.output(), td_.data(), gloss_val_, scalars_.data() + 3);
    mlp_backward_cuda(head, block(head), grad_block(head), c, dlogits_.data(), dx_.data());
    k.accumulate_rows(dx_.data(), ZA, dz_.data(), L, HB, L, k.stream);
  }

  // Back through the dynamics (last step first), then the encoder.
  for (int t = H - 1; t >= 0; --t) {
    mlp_backward_cuda(lay_.dynamics, block(lay_.dynamics), grad_block(lay_.dynamics),
                      dyn_caches_[static_cast<std::size_t>(t)], dz_.data() + (t + 1) * BL, dx_.data());
    k.accumulate_rows(dx_.data(), ZA, dz_.data() + t * BL, L, B, L, k.stream);
  }
  mlp_backward_cuda(lay_.encoder, block(lay_.encoder), grad_block(lay_.encoder), enc_cache_, dz_.data(),
                    nullptr);
}

void Tdmpc2UpdateCuda::pi_loss_backward() {
  const int B = cfg_.batch_size, H = cfg_.horizon, R = (H + 1) * B;
  const int A = mc_.action_dim, L = mc_.latent_dim, M = mc_.mlp_dim, ZA = L + A;
  const CudaLaunchers& k = cuda_launchers();
  // Policy on the detached latents.
  k.copy_rows(zs_.data(), L, pi_cache_.input(), L, R, L, k.stream);
  mlp_forward_train_cuda(lay_.pi, block(lay_.pi), pi_cache_, R);
  const float* out = pi_cache_.output();
  k.pi_actions(out, pi_eps_.data(), R, A, mc_.log_std_min, mc_.log_std_max, pi_action_.data(), k.stream);
  // Q of the two chosen heads (updated weights, no parameter gradient, dropout on).
  const Mlp& head = lay_.q.front();  // every head has its layout; the weights are the drawn ones
  for (int i = 0; i < 2; ++i) {
    const float* w = sel_online_.data() + i * head_size_;
    MlpCacheCuda& c = pi_q_caches_[static_cast<std::size_t>(i)];
    k.copy_rows(zs_.data(), L, c.input(), ZA, R, L, k.stream);
    k.copy_rows(pi_action_.data(), A, c.input() + L, ZA, R, A, k.stream);
    mlp_forward_train_cuda(head, w, c, R, pi_q_masks_.data() + static_cast<std::size_t>(i) * R * M);
    float* q = (i == 0 ? q_a_ : q_b_).data();
    k.q_head_decode_forward(c.output(), nullptr, nullptr, q, 1, R, mc_.num_bins, mc_.vmin, mc_.vmax, 0, 0,
                            kernels::QCombine::kAvg, k.stream);
    k.rollout_accumulate(q_sum_.data(), q, 0.5f, i == 0, R, k.stream);
  }
  // RunningScale on the first step's Q, then the loss rows, their sums and the entropy gradient.
  k.running_scale(q_sum_.data(), B, cfg_.tau, scalars_.data(), k.stream);
  k.pi_loss_rows(out, pi_eps_.data(), pi_action_.data(), q_sum_.data(), scalars_.data(), H, B, A, cfg_.rho,
                 cfg_.entropy_coef, mc_.log_std_min, mc_.log_std_max, row_loss_.data(), row_entropy_.data(),
                 g_q_.data(), da_.data(), stash_.data(), k.stream);
  k.sum_rows(row_loss_.data(), R, scalars_.data() + 4, k.stream);
  k.sum_rows(row_entropy_.data(), R, scalars_.data() + 5, k.stream);
  // Q backward to the action only (the latent is detached).
  for (int i = 0; i < 2; ++i) {
    const float* w = sel_online_.data() + i * head_size_;
    MlpCacheCuda& c = pi_q_caches_[static_cast<std::size_t>(i)];
    k.q_head_decode_backward(c.output(), nullptr, g_q_.data(), dlogits_.data(), 1, R, mc_.num_bins, mc_.vmin,
                             mc_.vmax, 0, 0, kernels::QCombine::kAvg, k.stream);
    mlp_backward_cuda(head, w, nullptr, c, dlogits_.data(), dx_.data(), L);
    k.accumulate_rows(dx_.data() + L, ZA, da_.data(), A, R, A, k.stream);
  }
  k.pi_out_grad(out, pi_action_.data(), da_.data(), stash_.data(), R, A, mc_.log_std_min, mc_.log_std_max,
                dpi_out_.data(), k.stream);
  mlp_backward_cuda(lay_.pi, block(lay_.pi), grad_block(lay_.pi), pi_cache_, dpi_out_.data(), nullptr);
}

}  // namespace lucid::agents
