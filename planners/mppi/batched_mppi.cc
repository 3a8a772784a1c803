// BatchedMppi (see batched_mppi.h): MPPI over B states with one Rng stream per state, reporting
// BMPC's expert distribution. Row layout as Mppi: state b owns rows [b * S, (b + 1) * S) of every
// (rows, .) buffer, its first P = num_pi_trajs rows are the policy-prior sequences.
#include "lucid/planners/batched_mppi.h"

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <exception>
#include <optional>

#include "lucid/engine/profile.h"
#include "lucid/error.h"
#include "lucid/kernels/threading.h"
#include "lucid/planners/action_ascent.h"
#include "lucid/planners/elite_refit.h"
#include "lucid/planners/mppi.h"

namespace lucid::planners {
namespace {

std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

}  // namespace

BatchedMppi::BatchedMppi(const PlannerConfig& config) : cfg_(config) { check_mppi_config(cfg_); }

int BatchedMppi::iterations() const { return mppi_iterations(cfg_); }

void BatchedMppi::allocate(int max_batch) {
  LUCID_CHECK_AS(max_batch > 0 && cfg_.action_dim > 0 && cfg_.latent_dim > 0, ConfigError)
      << "mppi: max_batch, action_dim and latent_dim must be positive";
  max_batch_ = max_batch;
  const int H = cfg_.horizon, A = cfg_.action_dim, L = cfg_.latent_dim, S = cfg_.num_samples;
  const int P = std::max(cfg_.num_pi_trajs, 1), K = cfg_.num_elites;
  A_ = A;
  const std::int64_t rows = std::int64_t{max_batch} * S;
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
  pi_return_.assign(sz(max_batch) * P, 0.f);
  reward_ = Tensor::zeros(Shape{rows, 1});
  vs_ = Tensor();  // (num_values * rows): sized on the first call, num_values is the model's
  term_action_ = Tensor::zeros(Shape{rows, A});
  term_eps_ = Tensor::zeros(Shape{rows, A});
  out_ = Tensor::zeros(Shape{max_batch, A});
  value_.assign(sz(rows), 0.f);
  noise_.assign(sz(rows) * H * A, 0.f);
  mean_.assign(sz(max_batch) * H * A, 0.f);
  std_.assign(mean_.size(), cfg_.max_std);
  prev_mean_.assign(mean_.size(), 0.f);
  order_.assign(S, 0);
  elite_.assign(sz(max_batch) * K, 0);
  score_.assign(sz(max_batch) * K, 0.f);
  heads_.assign(sz(max_batch) * 2, 0);
  expert_mean_.assign(sz(max_batch) * A, 0.f);
  expert_std_.assign(sz(max_batch) * A, 0.f);
  row_rngs_.assign(max_batch, Rng(0, 0));
  view_batch_ = view_threads_ = view_values_ = -1;
  warm_ = false;
}

void BatchedMppi::reset() { warm_ = false; }

BatchedMppi::Chunk BatchedMppi::make_chunk(int state, std::int64_t begin, std::int64_t end, int num_values) {
  Chunk c;
  static_cast<RolloutRows&>(c) =
      make_rollout_rows(begin, end, z0_.view_rows(state, state + 1), z_start_, z_a_, z_b_, z_term_, reward_,
                        term_action_, term_eps_, actions_);
  c.state = state;
  c.vs = vs_.view_rows(std::int64_t{num_values} * begin, std::int64_t{num_values} * end)
             .view(Shape{num_values, end - begin, 1});
  return c;
}

void BatchedMppi::make_views(int batch, int threads, int num_values) {
  if (batch == view_batch_ && threads == view_threads_ && num_values == view_values_) return;
  const int S = cfg_.num_samples, P = cfg_.num_pi_trajs;
  const std::int64_t rows = std::int64_t{batch} * S;
  const std::int64_t prow = std::int64_t{batch} * std::max(P, 1);
  if (!vs_.defined() || vs_.numel() < std::int64_t{num_values} * max_batch_ * S)
    vs_ = Tensor::zeros(Shape{std::int64_t{num_values} * max_batch_ * S});
  v_.z0 = z0_.view_rows(0, batch);
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
  // Slices per state: one when there are enough states to go round, else enough for two chunks
  // per thread; a state's sampled rows are S - P <= a few hundred at the official sizes.
  const int pieces = threads > 1 ? std::max(1, (2 * threads + batch - 1) / batch) : 1;
  v_.sampled.clear();
  v_.terminal.clear();
  for (int b = 0; b < batch; ++b) {
    const std::int64_t first = std::int64_t{b} * S;
    for (int c = 0; c < pieces; ++c) {
      const std::int64_t n = S - P;
      v_.sampled.push_back(
          make_chunk(b, first + P + n * c / pieces, first + P + n * (c + 1) / pieces, num_values));
      v_.terminal.push_back(make_chunk(b, first + S * c / pieces, first + S * (c + 1) / pieces, num_values));
    }
  }
  view_batch_ = batch;
  view_threads_ = threads;
  view_values_ = num_values;
}

Tensor BatchedMppi::plan(const models::WorldModel& model, const Tensor& obs, Rng& rng, bool eval) {
  const std::int64_t batch = obs.shape().rows();
  if (batch == 1) return plan_batch(model, obs, std::span<Rng>(&rng, 1), eval, !warm_);
  LUCID_CHECK_SHAPE(batch >= 1 && batch <= max_batch_)
      << "mppi: batch " << batch << " outside [1, " << max_batch_ << "]";
  float seed_bits[2];
  rng.uniform(seed_bits, 2);
  const auto seed = static_cast<std::uint64_t>(seed_bits[0] * 16777216.f) << 24 |
                    static_cast<std::uint64_t>(seed_bits[1] * 16777216.f);
  for (std::int64_t b = 0; b < batch; ++b) row_rngs_[b] = Rng(seed, static_cast<std::uint64_t>(b));
  return plan_batch(model, obs, std::span<Rng>(row_rngs_.data(), sz(batch)), eval, !warm_);
}

// Policy-prior sequences, fixed across iterations: their actions go to the first P rows of every
// state, their discounted rewards to pi_return_ and their z_H to z_term. State b's eps come from
// its own stream.
void BatchedMppi::prior_rollout(const models::WorldModel& model, int B, std::span<Rng> rngs) {
  const int H = cfg_.horizon, A = cfg_.action_dim, L = cfg_.latent_dim, S = cfg_.num_samples;
  const int P = cfg_.num_pi_trajs;
  if (P == 0) return;
  const float* z0 = v_.z0.data();
  for (int b = 0; b < B; ++b)
    for (int p = 0; p < P; ++p)
      std::memcpy(v_.pi_z_a.data() + (sz(b) * P + p) * L, z0 + sz(b) * L, sizeof(float) * L);
  std::fill(pi_return_.begin(), pi_return_.begin() + std::int64_t{B} * P, 0.f);
  Tensor* z = &v_.pi_z_a;
  Tensor* z_next = &v_.pi_z_b;
  float discount = 1.f;
  for (int t = 0; t < H; ++t) {
    for (int b = 0; b < B; ++b) rngs[b].normal(v_.pi_eps.data() + sz(b) * P * A, sz(P) * A);
    model.policy_action_into(*z, v_.pi_eps, v_.pi_actions[t]);
    model.reward_into(*z, v_.pi_actions[t], v_.pi_reward);
    model.next_into(*z, v_.pi_actions[t], *z_next);
    std::swap(z, z_next);
    const float* r = v_.pi_reward.data();
    for (std::int64_t i = 0; i < std::int64_t{B} * P; ++i) pi_return_[sz(i)] += discount * r[i];
    discount *= cfg_.discount;
    for (int b = 0; b < B; ++b)
      std::memcpy(v_.actions[t].data() + sz(b) * S * A, v_.pi_actions[t].data() + sz(b) * P * A,
                  sizeof(float) * P * A);
  }
  for (int b = 0; b < B; ++b)
    std::memcpy(z_term_.data() + sz(b) * S * L, z->data() + sz(b) * P * L, sizeof(float) * P * L);
}

// value += gamma^H * mean of the state's 2 heads at z_H (and a sampled pi(z_H) for Q heads);
// NaN -> 0, +-inf -> +-max.
void BatchedMppi::terminal_value(const models::WorldModel& model, const Chunk& c, int num_values,
                                 float gamma_h) {
  if (c.end == c.begin) return;
  // V heads (BMPC) read z_H alone: no policy action to form.
  if (model.value_uses_action()) model.policy_action_into(c.z_term, c.term_eps, c.term_action);
  model.value_ensemble_into(c.z_term, c.term_action, c.vs);
  const std::int64_t n = c.end - c.begin;
  const int n_heads = std::min(num_values, 2);
  const int* hd = heads_.data() + sz(c.state) * 2;
  const float* vs = c.vs.data();
  float* value = value_.data() + c.begin;
  for (std::int64_t i = 0; i < n; ++i) {
    float q = 0.f;
    for (int h = 0; h < n_heads; ++h) q += vs[sz(hd[h]) * sz(n) + sz(i)];
    float v = value[i] + gamma_h * q / static_cast<float>(n_heads);
    if (std::isnan(v))
      v = 0.f;  // torch.nan_to_num
    else if (std::isinf(v))
      v = v > 0 ? FLT_MAX : -FLT_MAX;
    value[i] = v;
  }
}

// One iteration's values: every sampled chunk's rollout, then every chunk's terminal value.
void BatchedMppi::evaluate(const models::WorldModel& model, int threads, int num_values, float gamma_h) {
  const auto n_sampled = static_cast<int>(v_.sampled.size());
  const auto n_terminal = static_cast<int>(v_.terminal.size());
  if (threads == 1) {
    for (const Chunk& c : v_.sampled)
      roll_out(model, c, cfg_.horizon, cfg_.discount, value_.data() + c.begin);
    for (const Chunk& c : v_.terminal) terminal_value(model, c, num_values, gamma_h);
    return;
  }
  // The inner kernels see an active region and run serially. The first exception is kept and
  // rethrown here; `failed` lets the other threads skip the remaining chunks.
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  auto guarded = [&](auto&& work) {
    if (failed.load(std::memory_order_relaxed)) return;
    try {
      work();
    } catch (...) {
#pragma omp critical(lucid_batched_mppi_error)
      if (!error) error = std::current_exception();
      failed = true;
    }
  };
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (int i = 0; i < n_sampled; ++i)
      guarded([&] {
        const Chunk& c = v_.sampled[sz(i)];
        roll_out(model, c, cfg_.horizon, cfg_.discount, value_.data() + c.begin);
      });
#pragma omp for schedule(static)
    for (int i = 0; i < n_terminal; ++i)
      guarded([&] { terminal_value(model, v_.terminal[sz(i)], num_values, gamma_h); });
  }
  if (error) std::rethrow_exception(error);
}

Tensor BatchedMppi::plan_batch(const models::WorldModel& model, const Tensor& obs, std::span<Rng> rngs,
                               bool eval, bool t0) {
  LUCID_CHECK(max_batch_ > 0) << "mppi: call allocate() before plan()";
  const std::int64_t batch64 = obs.shape().rows();
  LUCID_CHECK_SHAPE(batch64 >= 1 && batch64 <= max_batch_ &&
                    static_cast<std::int64_t>(rngs.size()) == batch64)
      << "mppi: batch " << batch64 << " outside [1, " << max_batch_ << "] or " << rngs.size() << " streams";
  LUCID_CHECK_SHAPE(model.action_dim() == cfg_.action_dim && model.latent_dim() == cfg_.latent_dim)
      << "mppi: configured for action " << cfg_.action_dim << " / latent " << cfg_.latent_dim
      << ", model has " << model.action_dim() << " / " << model.latent_dim();
  const int B = static_cast<int>(batch64);
  const int H = cfg_.horizon, A = cfg_.action_dim, L = cfg_.latent_dim, S = cfg_.num_samples;
  const int P = cfg_.num_pi_trajs, K = cfg_.num_elites, NV = model.num_values();
  if (B != batch_) t0 = true;  // a warm start belongs to the previous call's states
  batch_ = B;
  const int threads = model.concurrent_queries() && obs.is_cpu() ? kernels::num_threads() : 1;
  make_views(B, threads, NV);

  std::optional<ProfileRange> prior_range(std::in_place, "plan/prior_rollout");
  model.encode_into(obs, v_.z0);
  const float* z0 = v_.z0.data();
  for (int b = 0; b < B; ++b)
    for (int s = 0; s < S; ++s)
      std::memcpy(v_.z_start.data() + (sz(b) * S + s) * L, z0 + sz(b) * L, sizeof(float) * L);
  prior_rollout(model, B, rngs);

  for (int b = 0; b < B; ++b)
    for (int t = 0; t < H; ++t)
      for (int j = 0; j < A; ++j) {
        const std::size_t i = (sz(b) * H + t) * A + j;
        mean_[i] = (!t0 && warm_ && t + 1 < H) ? prev_mean_[i + A] : 0.f;
        std_[i] = cfg_.max_std;
      }
  float gamma_h = 1.f;  // by repeated products, as the official loop accumulates it
  for (int t = 0; t < H; ++t) gamma_h *= cfg_.discount;

  prior_range.reset();
  const int iters = iterations();
  for (int it = 0; it < iters; ++it) {
    const ProfileRange range("plan/iteration");
    // State b's draws, from its stream: the Gaussian noise in (t, s, j) order, the terminal
    // policy eps of its S rows (Q heads only), its 2 value heads.
    const std::size_t per_state = sz(S - P) * H * A;
    for (int b = 0; b < B; ++b) {
      const float* noise = noise_.data() + sz(b) * per_state;
      rngs[b].normal(noise_.data() + sz(b) * per_state, per_state);
      std::size_t k = 0;
      for (int t = 0; t < H; ++t) {
        const float* mu = mean_.data() + (sz(b) * H + t) * A;
        const float* sd = std_.data() + (sz(b) * H + t) * A;
        for (int s = P; s < S; ++s) {
          float* a = v_.actions[t].data() + (sz(b) * S + s) * A;
          for (int j = 0; j < A; ++j) a[j] = std::clamp(mu[j] + sd[j] * noise[k++], -1.f, 1.f);
        }
      }
      if (model.value_uses_action()) rngs[b].normal(v_.term_eps.data() + sz(b) * S * A, sz(S) * A);
      pick_two_heads(NV, rngs[b], heads_.data() + sz(b) * 2);
      // The policy rows' discounted rewards; their terminal value is added below.
      std::copy_n(pi_return_.data() + sz(b) * P, P, value_.data() + sz(b) * S);
    }
    // Value of every sequence: discounted model rewards, then the terminal value.
    evaluate(model, threads, NV, gamma_h);

    // Elites and the weighted refit, per state.
    for (int b = 0; b < B; ++b) {
      const float* val = value_.data() + sz(b) * S;
      for (int s = 0; s < S; ++s) order_[s] = s;
      std::partial_sort(order_.begin(), order_.begin() + K, order_.end(),
                        [val](int x, int y) { return val[x] > val[y] || (val[x] == val[y] && x < y); });
      int* elite = elite_.data() + sz(b) * K;
      float* score = score_.data() + sz(b) * K;
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
      for (int e = 0; e < K; ++e) score[e] /= sum;
      float total = 0.f;
      for (int e = 0; e < K; ++e) total += score[e];
      for (int t = 0; t < H; ++t)
        elite_refit(v_.actions[t].data() + sz(b) * S * A, elite, score, K, A, total + 1e-9f, cfg_.min_std,
                    cfg_.max_std, mean_.data() + (sz(b) * H + t) * A, std_.data() + (sz(b) * H + t) * A);
    }
  }

  // One elite per state by Gumbel-max on log(score): its first action is the expert mean.
  for (int b = 0; b < B; ++b) {
    const int* elite = elite_.data() + sz(b) * K;
    const float* score = score_.data() + sz(b) * K;
    int best = 0;
    float best_g = -FLT_MAX;
    for (int e = 0; e < K; ++e) {
      const float u = std::max(rngs[b].uniform(), 1e-20f);
      const float g = std::log(score[e]) - std::log(-std::log(u));
      if (g > best_g) best_g = g, best = e;
    }
    const float* a0 = v_.actions[0].data() + (sz(b) * S + elite[best]) * A;
    const float* sd0 = std_.data() + sz(b) * H * A;
    for (int j = 0; j < A; ++j) {
      expert_mean_[sz(b) * A + j] = a0[j];
      expert_std_[sz(b) * A + j] = sd0[j];
      float a = a0[j];
      if (!eval) a += sd0[j] * rngs[b].normal();
      v_.out.data()[sz(b) * A + j] = std::clamp(a, -1.f, 1.f);
    }
  }
  std::copy(mean_.begin(), mean_.begin() + std::int64_t{B} * H * A, prev_mean_.begin());
  warm_ = true;
  return v_.out;
}

}  // namespace lucid::planners
