// MPPI (TD-MPC2 `_plan` / `_estimate_value`), see mppi.h for the algorithm and memory contract.
//
// Row layout: observation b owns rows [b * S, (b + 1) * S) of every (rows, .) buffer; the first
// P = num_pi_trajs of them are the policy-prior sequences.
#include "lucid/planners/mppi.h"

#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <exception>

#include "lucid/engine/profile.h"
#include "lucid/error.h"
#include "lucid/kernels/threading.h"
#include "lucid/planners/elite_refit.h"

namespace lucid::planners {

void check_mppi_config(const PlannerConfig& c) {
  LUCID_CHECK_AS(c.horizon >= 1 && c.iterations >= 1, ConfigError) << "mppi: horizon and iterations >= 1";
  LUCID_CHECK_AS(c.num_samples > c.num_pi_trajs && c.num_pi_trajs >= 0, ConfigError)
      << "mppi: need num_samples (" << c.num_samples << ") > num_pi_trajs (" << c.num_pi_trajs << ") >= 0";
  LUCID_CHECK_AS(c.num_elites >= 1 && c.num_elites <= c.num_samples, ConfigError)
      << "mppi: num_elites " << c.num_elites << " must be in [1, num_samples]";
  LUCID_CHECK_AS(c.min_std > 0.f && c.min_std <= c.max_std, ConfigError) << "mppi: 0 < min_std <= max_std";
}

int mppi_iterations(const PlannerConfig& c) { return c.iterations + (c.action_dim >= 20 ? 2 : 0); }

Mppi::Mppi(const PlannerConfig& config) : cfg_(config) { check_mppi_config(cfg_); }

int Mppi::iterations() const { return mppi_iterations(cfg_); }

void Mppi::allocate(int max_batch) {
  LUCID_CHECK_AS(max_batch > 0 && cfg_.action_dim > 0 && cfg_.latent_dim > 0, ConfigError)
      << "mppi: max_batch, action_dim and latent_dim must be positive";
  max_batch_ = max_batch;
  const int H = cfg_.horizon, A = cfg_.action_dim, L = cfg_.latent_dim, S = cfg_.num_samples;
  const int P = std::max(cfg_.num_pi_trajs, 1), K = cfg_.num_elites;
  const std::int64_t rows = static_cast<std::int64_t>(max_batch) * S;
  z0_ = Tensor::zeros(Shape{max_batch, L});
  z_start_ = Tensor::zeros(Shape{rows, L});
  z_a_ = Tensor::zeros(Shape{rows, L});
  z_b_ = Tensor::zeros(Shape{rows, L});
  z_term_ = Tensor::zeros(Shape{rows, L});
  actions_ = Tensor::zeros(Shape{H, rows, A});
  pi_z_a_ = Tensor::zeros(Shape{max_batch * P, L});
  pi_z_b_ = Tensor::zeros(Shape{max_batch * P, L});
  pi_actions_ = Tensor::zeros(Shape{H, max_batch * P, A});
  pi_eps_ = Tensor::zeros(Shape{max_batch * P, A});
  pi_reward_ = Tensor::zeros(Shape{max_batch * P, 1});
  pi_return_.assign(static_cast<std::size_t>(max_batch) * P, 0.f);
  reward_ = Tensor::zeros(Shape{rows, 1});
  q_ = Tensor::zeros(Shape{rows, 1});
  term_action_ = Tensor::zeros(Shape{rows, A});
  term_eps_ = Tensor::zeros(Shape{rows, A});
  out_ = Tensor::zeros(Shape{max_batch, A});
  value_.assign(rows, 0.f);
  noise_.assign(rows * H * A, 0.f);
  mean_.assign(static_cast<std::size_t>(max_batch) * H * A, 0.f);
  std_.assign(mean_.size(), cfg_.max_std);
  prev_mean_.assign(mean_.size(), 0.f);
  order_.assign(S, 0);
  elite_.assign(static_cast<std::size_t>(max_batch) * K, 0);
  score_.assign(static_cast<std::size_t>(max_batch) * K, 0.f);
  elite_trace_.reserve(iterations());
  view_batch_ = view_threads_ = -1;
  warm_ = false;
}

void Mppi::reset() { warm_ = false; }

Mppi::Chunk Mppi::make_chunk(std::int64_t begin, std::int64_t end) {
  Chunk c;
  static_cast<RolloutRows&>(c) = make_rollout_rows(begin, end, Tensor(), z_start_, z_a_, z_b_, z_term_,
                                                   reward_, term_action_, term_eps_, actions_);
  c.q = q_.view_rows(begin, end);
  return c;
}

void Mppi::make_views(int batch, int threads) {
  if (batch == view_batch_ && threads == view_threads_) return;
  const int S = cfg_.num_samples, P = cfg_.num_pi_trajs;
  const std::int64_t rows = static_cast<std::int64_t>(batch) * S;
  const std::int64_t prow = static_cast<std::int64_t>(batch) * std::max(P, 1);
  v_.obs_z0 = z0_.view_rows(0, batch);
  v_.z_start = z_start_.view_rows(0, rows);
  v_.pi_z_a = pi_z_a_.view_rows(0, prow);
  v_.pi_z_b = pi_z_b_.view_rows(0, prow);
  v_.pi_eps = pi_eps_.view_rows(0, prow);
  v_.pi_reward = pi_reward_.view_rows(0, prow);
  v_.term_eps = term_eps_.view_rows(0, rows);
  v_.out = out_.view_rows(0, batch);
  v_.actions.clear();
  v_.pi_actions.clear();
  for (int t = 0; t < cfg_.horizon; ++t) {
    v_.actions.push_back(actions_[t].view_rows(0, rows));
    v_.pi_actions.push_back(pi_actions_[t].view_rows(0, prow));
  }
  // Thread c owns slice c of every observation's rows: it rolls out the Gaussian rows in it and
  // then adds the terminal value of all its rows. The slices balance the two costs, a terminal
  // value (pi + two Q heads) being about kTerminalSteps rollout steps of one row.
  constexpr double kTerminalSteps = 1.25;
  const double policy_row = kTerminalSteps, sampled_row = cfg_.horizon + kTerminalSteps;
  const double total = P * policy_row + (S - P) * sampled_row;
  std::vector<std::int64_t> bound(static_cast<std::size_t>(threads) + 1, S);
  bound[0] = 0;
  for (int c = 1; c < threads; ++c) {
    const double target = total * c / threads;
    const double s =
        target <= P * policy_row ? target / policy_row : P + (target - P * policy_row) / sampled_row;
    bound[static_cast<std::size_t>(c)] = std::clamp<std::int64_t>(std::llround(s), bound[c - 1], S);
  }
  v_.rolled.clear();
  v_.valued.clear();
  for (int b = 0; b < batch; ++b) {
    const std::int64_t first = static_cast<std::int64_t>(b) * S;
    for (int c = 0; c < threads; ++c) {
      const std::int64_t lo = first + bound[c], hi = first + bound[c + 1];
      v_.rolled.push_back(make_chunk(std::max(lo, first + P), std::max(hi, first + P)));
      v_.rolled.back().z_shared = z0_.view_rows(b, b + 1);
      v_.valued.push_back(make_chunk(lo, hi));
    }
  }
  view_batch_ = batch;
  view_threads_ = threads;
}

namespace {

// Two distinct Q heads uniformly at random (torch.randperm(num_q)[:2]); one head if only one.
void pick_two(int n, Rng& rng, int* heads, int* count) {
  if (n < 2) {
    heads[0] = 0;
    *count = 1;
    return;
  }
  const int a = std::min(static_cast<int>(rng.uniform() * static_cast<float>(n)), n - 1);
  int b = std::min(static_cast<int>(rng.uniform() * static_cast<float>(n - 1)), n - 2);
  if (b >= a) ++b;
  heads[0] = a;
  heads[1] = b;
  *count = 2;
}

}  // namespace

void Mppi::rollout(const models::WorldModel& model, const Chunk& c) {
  roll_out(model, c, cfg_.horizon, cfg_.discount, value_.data() + c.begin);
}

void Mppi::terminal_value(const models::WorldModel& model, const Chunk& c, std::span<const int> heads,
                          float gamma_h) {
  if (c.end == c.begin) return;
  // Terminal value with a *sampled* policy action, averaged over two random heads.
  model.policy_action_into(c.z_term, c.term_eps, c.term_action);
  model.value_into(c.z_term, c.term_action, heads, c.q);
  const float* q = c.q.data();
  float* value = value_.data() + c.begin;
  for (std::int64_t i = 0, n = c.end - c.begin; i < n; ++i) {
    float v = value[i] + gamma_h * q[i];
    if (std::isnan(v))
      v = 0.f;  // torch.nan_to_num
    else if (std::isinf(v))
      v = v > 0 ? FLT_MAX : -FLT_MAX;
    value[i] = v;
  }
}

void Mppi::estimate_value(const models::WorldModel& model, int batch, Rng& rng) {
  const int S = cfg_.num_samples, P = cfg_.num_pi_trajs;
  const int threads = view_threads_;  // the slices make_views cut
  rng.normal(v_.term_eps.data(), static_cast<std::size_t>(v_.term_eps.numel()));
  int heads[2], n_heads = 0;
  pick_two(model.num_values(), rng, heads, &n_heads);
  const std::span<const int> head_span(heads, n_heads);
  float gamma_h = 1.f;  // by repeated products, as the official loop accumulates it
  for (int t = 0; t < cfg_.horizon; ++t) gamma_h *= cfg_.discount;
  for (int b = 0; b < batch; ++b)  // the policy rows' returns, rolled out once in plan()
    std::copy_n(pi_return_.data() + static_cast<std::size_t>(b) * P, P,
                value_.data() + static_cast<std::size_t>(b) * S);
  // Thread c's slices only: its rollouts, then their terminal values (see make_views).
  const auto own_slices = [&](int c) {
    for (int b = 0; b < batch; ++b) rollout(model, v_.rolled[static_cast<std::size_t>(b) * threads + c]);
    for (int b = 0; b < batch; ++b)
      terminal_value(model, v_.valued[static_cast<std::size_t>(b) * threads + c], head_span, gamma_h);
  };
  if (threads == 1) {
    own_slices(0);
    return;
  }
  // One parallel region per iteration, no barrier inside; the inner kernels see an active region
  // and run serially.
  std::exception_ptr error;
#pragma omp parallel num_threads(threads)
  {
    try {
      own_slices(omp_get_thread_num());
    } catch (...) {
#pragma omp critical(lucid_mppi_error)
      error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

void Mppi::prepare_cpu(const models::WorldModel& model, const Tensor& obs, int B, Rng& rng) {
  const int H = cfg_.horizon, A = cfg_.action_dim, L = cfg_.latent_dim, S = cfg_.num_samples;
  const int P = cfg_.num_pi_trajs;
  model.encode_into(obs, v_.obs_z0);
  const float* z0 = v_.obs_z0.data();
  float* zs = v_.z_start.data();
  for (int b = 0; b < B; ++b)
    for (int s = 0; s < S; ++s)
      std::memcpy(zs + (static_cast<std::size_t>(b) * S + s) * L, z0 + static_cast<std::size_t>(b) * L,
                  sizeof(float) * L);

  // Policy-prior sequences: a_t ~ pi(z_t), z_{t+1} = d(z_t, a_t), fixed across iterations, so
  // their discounted rewards and z_H are computed here once.
  if (P > 0) {
    float* pz = v_.pi_z_a.data();
    for (int b = 0; b < B; ++b)
      for (int p = 0; p < P; ++p)
        std::memcpy(pz + (static_cast<std::size_t>(b) * P + p) * L, z0 + static_cast<std::size_t>(b) * L,
                    sizeof(float) * L);
    std::fill(pi_return_.begin(), pi_return_.begin() + static_cast<std::ptrdiff_t>(B) * P, 0.f);
    Tensor* z = &v_.pi_z_a;
    Tensor* z_next = &v_.pi_z_b;
    float discount = 1.f;
    for (int t = 0; t < H; ++t) {
      rng.normal(v_.pi_eps.data(), static_cast<std::size_t>(v_.pi_eps.numel()));
      model.policy_action_into(*z, v_.pi_eps, v_.pi_actions[t]);
      if (t == 0 && B == 1) {
        model.step_from_shared_into(v_.obs_z0, *z, v_.pi_actions[0], v_.pi_reward, *z_next);
      } else {
        model.reward_into(*z, v_.pi_actions[t], v_.pi_reward);
        model.next_into(*z, v_.pi_actions[t], *z_next);
      }
      std::swap(z, z_next);
      const float* r = v_.pi_reward.data();
      for (int i = 0; i < B * P; ++i) pi_return_[i] += discount * r[i];
      discount *= cfg_.discount;
      const float* pa = v_.pi_actions[t].data();
      float* act = v_.actions[t].data();
      for (int b = 0; b < B; ++b)
        std::memcpy(act + static_cast<std::size_t>(b) * S * A, pa + static_cast<std::size_t>(b) * P * A,
                    sizeof(float) * P * A);
    }
    float* zt = z_term_.data();
    for (int b = 0; b < B; ++b)
      std::memcpy(zt + static_cast<std::size_t>(b) * S * L, z->data() + static_cast<std::size_t>(b) * P * L,
                  sizeof(float) * P * L);
  }
}

// The Gaussian sequences of one iteration: clamp(mean + std N(0,1), -1, 1), one bulk draw.
void Mppi::sample_actions_cpu(int B, Rng& rng) {
  const int H = cfg_.horizon, A = cfg_.action_dim, S = cfg_.num_samples, P = cfg_.num_pi_trajs;
  const std::size_t n_noise = static_cast<std::size_t>(B) * (S - P) * H * A;
  rng.normal(noise_.data(), n_noise);
  std::size_t k = 0;
  for (int t = 0; t < H; ++t) {
    float* act = v_.actions[t].data();
    for (int b = 0; b < B; ++b) {
      const float* mu = mean_.data() + (static_cast<std::size_t>(b) * H + t) * A;
      const float* sd = std_.data() + (static_cast<std::size_t>(b) * H + t) * A;
      for (int s = P; s < S; ++s) {
        float* a = act + (static_cast<std::size_t>(b) * S + s) * A;
        for (int j = 0; j < A; ++j) a[j] = std::clamp(mu[j] + sd[j] * noise_[k++], -1.f, 1.f);
      }
    }
  }
}

Tensor Mppi::plan(const models::WorldModel& model, const Tensor& obs, Rng& rng, bool eval) {
  LUCID_CHECK(max_batch_ > 0) << "mppi: call allocate() before plan()";
  const std::int64_t batch64 = obs.shape().rows();
  LUCID_CHECK_SHAPE(batch64 >= 1 && batch64 <= max_batch_)
      << "mppi: batch " << batch64 << " outside [1, " << max_batch_ << "]";
  LUCID_CHECK_SHAPE(model.action_dim() == cfg_.action_dim && model.latent_dim() == cfg_.latent_dim)
      << "mppi: configured for action " << cfg_.action_dim << " / latent " << cfg_.latent_dim
      << ", model has " << model.action_dim() << " / " << model.latent_dim();
  const int B = static_cast<int>(batch64);
  const int H = cfg_.horizon, A = cfg_.action_dim, S = cfg_.num_samples, K = cfg_.num_elites;
  // Device queries go to one stream from one host thread.
  make_views(B, model.concurrent_queries() && obs.is_cpu() ? kernels::num_threads() : 1);

  const bool on_device = obs.device() == Device::kCuda;
  {
    const ProfileRange range("plan/prior_rollout");
    if (on_device)
      prepare_cuda(model, obs, B, rng);
    else
      prepare_cpu(model, obs, B, rng);
  }

  // Mean warm-started by shifting the previous final mean; std reset to max_std every call.
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < H; ++t)
      for (int j = 0; j < A; ++j) {
        const std::size_t i = (static_cast<std::size_t>(b) * H + t) * A + j;
        mean_[i] = (warm_ && t + 1 < H) ? prev_mean_[i + A] : 0.f;
        std_[i] = cfg_.max_std;
      }

  elite_trace_.clear();
  const int iters = iterations();
  for (int it = 0; it < iters; ++it) {
    const ProfileRange range("plan/iteration");
    if (on_device) {
      iterate_cuda(model, B, rng);  // samples, rolls out and refits on the device
      continue;
    }
    sample_actions_cpu(B, rng);
    estimate_value(model, B, rng);

    for (int b = 0; b < B; ++b) {
      const float* val = value_.data() + static_cast<std::size_t>(b) * S;
      for (int s = 0; s < S; ++s) order_[s] = s;
      std::partial_sort(order_.begin(), order_.begin() + K, order_.end(),
                        [val](int x, int y) { return val[x] > val[y] || (val[x] == val[y] && x < y); });
      int* elite = elite_.data() + static_cast<std::size_t>(b) * K;
      float* score = score_.data() + static_cast<std::size_t>(b) * K;
      float max_v = -FLT_MAX;
      for (int e = 0; e < K; ++e) {
        elite[e] = order_[e];
        max_v = std::max(max_v, val[elite[e]]);
      }
      float sum = 0.f;
      for (int e = 0; e < K; ++e) {
        score[e] = std::exp(cfg_.temperature * (val[elite[e]] - max_v));
        sum += score[e];
      }
      float mean_elite = 0.f;
      for (int e = 0; e < K; ++e) {
        score[e] /= sum;
        mean_elite += val[elite[e]] / static_cast<float>(K);
      }
      if (b == 0) elite_trace_.push_back(mean_elite);
      // Weighted refit; the score already sums to 1, the 1e-9 mirrors the official division.
      float total = 0.f;
      for (int e = 0; e < K; ++e) total += score[e];
      const float denom = total + 1e-9f;
      for (int t = 0; t < H; ++t) {
        const float* act = v_.actions[t].data() + static_cast<std::size_t>(b) * S * A;
        float* mu = mean_.data() + (static_cast<std::size_t>(b) * H + t) * A;
        float* sd = std_.data() + (static_cast<std::size_t>(b) * H + t) * A;
        elite_refit(act, elite, score, K, A, denom, cfg_.min_std, cfg_.max_std, mu, sd);
      }
    }
  }

  // One elite per observation by Gumbel-max on log(score); its first action (+ noise if training).
  const ProfileRange range("plan/select");
  float* out = v_.out.data();
  for (int b = 0; b < B; ++b) {
    const int* elite = elite_.data() + static_cast<std::size_t>(b) * K;
    const float* score = score_.data() + static_cast<std::size_t>(b) * K;
    int best = 0;
    float best_g = -FLT_MAX;
    for (int e = 0; e < K; ++e) {
      const float u = std::max(rng.uniform(), 1e-20f);
      const float g = std::log(score[e]) - std::log(-std::log(u));
      if (g > best_g) best_g = g, best = e;
    }
    const float* a0 = v_.actions[0].data() + (static_cast<std::size_t>(b) * S + elite[best]) * A;
    const float* sd0 = std_.data() + static_cast<std::size_t>(b) * H * A;
    for (int j = 0; j < A; ++j) {
      float a = a0[j];
      if (!eval) a += sd0[j] * rng.normal();
      out[static_cast<std::size_t>(b) * A + j] = std::clamp(a, -1.f, 1.f);
    }
  }
  std::copy(mean_.begin(), mean_.begin() + static_cast<std::ptrdiff_t>(B) * H * A, prev_mean_.begin());
  warm_ = true;
  if (on_device) return finish_cuda(B);
  return v_.out;
}

}  // namespace lucid::planners
