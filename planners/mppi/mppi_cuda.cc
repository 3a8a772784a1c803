// MPPI on the CUDA device: plan()'s encode, policy-prior rollout and per-iteration sampling,
// rollout and terminal value as device launches (see mppi.h for what stays on the host).
//
// Bit-for-bit the CPU's random numbers: every bulk normal draw of Mppi::plan is replaced by
// philox_normal at the Rng's current (seed, stream, offset), and the Rng's offset is advanced by
// the blocks the CPU draw would have used, so the scalar draws that stay on the host (the head
// pair, the Gumbel elite pick, the exploration noise) see the same stream positions as on the
// CPU. Row layout and buffers mirror the host ones (mppi.cc): observation b owns rows
// [b * S, (b + 1) * S), the first P of them policy-prior sequences.
//
// Launches per iteration (B = 1): 2 for the noise and the clamped samples, then the model's
// (models/tdmpc2/model_cuda.h) for H steps of reward + dynamics and the terminal pi + 2 Q heads,
// plus one accumulate per step and one for the terminal value, and one elite refit. The policy rows' returns
// are copied into the value rows (device-to-device copies, no kernel). For B > 1 the rollout is one model
// call per observation per step (each observation's sampled rows are contiguous, the first step reads that
// observation's latent as a shared prefix).
#include <algorithm>
#include <vector>

#include "lucid/engine/cuda_launchers.h"
#include "lucid/error.h"
#include "lucid/kernels/cuda/random.h"
#include "lucid/planners/action_ascent.h"
#include "lucid/planners/mppi.h"

namespace lucid::planners {
namespace {

// Fills out[0, n) with the Rng's next n normals on the device and advances the Rng as
// Rng::normal(ptr, n) would.
void device_normal(float* out, std::size_t n, Rng& rng) {
  const CudaLaunchers& k = cuda_launchers();
  k.philox_normal(out, n, rng.seed(), rng.stream(), rng.offset(), k.stream);
  rng.set_offset(rng.offset() + kernels::philox_blocks(n));
}

Tensor dev_zeros(const Shape& s) { return Tensor::zeros(s, Device::kCuda); }

}  // namespace

void Mppi::prepare_cuda(const models::WorldModel& model, const Tensor& obs, int B, Rng& rng) {
  const int H = cfg_.horizon, A = cfg_.action_dim, L = cfg_.latent_dim, S = cfg_.num_samples;
  const int P = cfg_.num_pi_trajs, P1 = std::max(P, 1);
  const std::int64_t rows = static_cast<std::int64_t>(max_batch_) * S;
  DeviceBuffers& d = dev_;
  if (!d.z0.defined()) {
    d.z0 = dev_zeros(Shape{max_batch_, L});
    d.z_a = dev_zeros(Shape{rows, L});
    d.z_b = dev_zeros(Shape{rows, L});
    d.z_term = dev_zeros(Shape{rows, L});
    d.actions = dev_zeros(Shape{H, rows, A});
    d.pi_z_a = dev_zeros(Shape{max_batch_ * P1, L});
    d.pi_z_b = dev_zeros(Shape{max_batch_ * P1, L});
    d.pi_eps = dev_zeros(Shape{max_batch_ * P1, A});
    d.pi_actions = dev_zeros(Shape{H, max_batch_ * P1, A});
    d.pi_reward = dev_zeros(Shape{max_batch_ * P1, 1});
    d.pi_return = dev_zeros(Shape{max_batch_ * P1});
    d.reward = dev_zeros(Shape{rows, 1});
    d.q = dev_zeros(Shape{rows, 1});
    d.value = dev_zeros(Shape{rows});
    d.term_eps = dev_zeros(Shape{rows, A});
    d.term_action = dev_zeros(Shape{rows, A});
    d.noise = dev_zeros(Shape{rows * H * A});
    d.mean = dev_zeros(Shape{static_cast<std::int64_t>(max_batch_) * H * A});
    d.std_dev = dev_zeros(Shape{static_cast<std::int64_t>(max_batch_) * H * A});
    d.out = dev_zeros(Shape{max_batch_, A});
    d.elite = dev_zeros(Shape{max_batch_, cfg_.num_elites});
    d.score = dev_zeros(Shape{max_batch_, cfg_.num_elites});
    d.elite_mean = dev_zeros(Shape{max_batch_});
  }
  d.mean_current = false;  // plan() warm-starts mean and std on the host next
  const Tensor z0 = d.z0.view_rows(0, B);
  model.encode_into(obs, z0);
  if (P == 0) return;
  const CudaLaunchers& k = cuda_launchers();
  const std::int64_t prow = static_cast<std::int64_t>(B) * P;
  // Every policy row starts from its observation's latent: one broadcast copy, (B, 1, L) -> (B, P, L).
  k.expand(d.z0.data(), kernels::Dims4{{1, B, 1, L}}, d.pi_z_a.data(), kernels::Dims4{{1, B, P, L}}, 1.f,
           k.stream);
  Tensor z = d.pi_z_a.view_rows(0, prow), z_next = d.pi_z_b.view_rows(0, prow);
  const Tensor eps = d.pi_eps.view_rows(0, prow), reward = d.pi_reward.view_rows(0, prow);
  const Tensor ret = d.pi_return.view_rows(0, prow);
  float discount = 1.f;
  for (int t = 0; t < H; ++t) {
    const Tensor act = d.pi_actions[t].view_rows(0, prow);
    device_normal(eps.data(), static_cast<std::size_t>(prow) * A, rng);
    model.policy_action_into(z, eps, act);
    if (t == 0 && B == 1) {
      model.step_from_shared_into(z0, z, act, reward, z_next);
    } else {
      model.reward_into(z, act, reward);
      model.next_into(z, act, z_next);
    }
    std::swap(z, z_next);
    k.mppi_accumulate(ret.data(), reward.data(), prow, discount,
                      t == 0 ? kernels::MppiAccumulate::kAssign : kernels::MppiAccumulate::kAdd, k.stream);
    discount *= cfg_.discount;
    for (int b = 0; b < B; ++b)
      d.actions[t]
          .view_rows(static_cast<std::int64_t>(b) * S, static_cast<std::int64_t>(b) * S + P)
          .copy_from(act.view_rows(static_cast<std::int64_t>(b) * P, static_cast<std::int64_t>(b + 1) * P));
  }
  for (int b = 0; b < B; ++b)
    d.z_term.view_rows(static_cast<std::int64_t>(b) * S, static_cast<std::int64_t>(b) * S + P)
        .copy_from(z.view_rows(static_cast<std::int64_t>(b) * P, static_cast<std::int64_t>(b + 1) * P));
}

void Mppi::iterate_cuda(const models::WorldModel& model, int B, Rng& rng) {
  const int H = cfg_.horizon, A = cfg_.action_dim, S = cfg_.num_samples, P = cfg_.num_pi_trajs;
  const std::int64_t rows = static_cast<std::int64_t>(B) * S;
  const std::size_t n_mean = static_cast<std::size_t>(B) * H * A;
  DeviceBuffers& d = dev_;
  const CudaLaunchers& k = cuda_launchers();
  // The call's first iteration uploads the host's warm-started mean and std (synchronous copies);
  // later ones read the previous device refit in place.
  if (!d.mean_current) {
    d.mean.view_rows(0, static_cast<std::int64_t>(n_mean))
        .copy_from(Tensor::from(std::vector<float>(mean_.begin(), mean_.begin() + n_mean),
                                Shape{static_cast<std::int64_t>(n_mean)}));
    d.std_dev.view_rows(0, static_cast<std::int64_t>(n_mean))
        .copy_from(Tensor::from(std::vector<float>(std_.begin(), std_.begin() + n_mean),
                                Shape{static_cast<std::int64_t>(n_mean)}));
  }
  device_normal(d.noise.data(), static_cast<std::size_t>(B) * (S - P) * H * A, rng);
  // Terminal-value randomness next, in the CPU's order (noise, terminal eps, head pair), so the
  // sampling and rollout below can be one graph with fixed arguments.
  const Tensor term_eps = d.term_eps.view_rows(0, rows), term_action = d.term_action.view_rows(0, rows);
  const Tensor z_term = d.z_term.view_rows(0, rows), q = d.q.view_rows(0, rows);
  device_normal(term_eps.data(), static_cast<std::size_t>(rows) * A, rng);
  int heads[2];
  const int n_heads = pick_two_heads(model.num_values(), rng, heads);

  auto sample_and_rollout = [&] {
    k.mppi_sample_actions(d.mean.data(), d.std_dev.data(), d.noise.data(), d.actions.data(), B, S, P, H, A,
                          d.actions.size(1), k.stream);

    // Value rows: the policy rows' fixed returns, then the sampled rows' rollouts.
    for (int b = 0; b < B && P > 0; ++b)
      d.value.view_rows(static_cast<std::int64_t>(b) * S, static_cast<std::int64_t>(b) * S + P)
          .copy_from(
              d.pi_return.view_rows(static_cast<std::int64_t>(b) * P, static_cast<std::int64_t>(b + 1) * P));
    for (int b = 0; b < B; ++b) {
      const std::int64_t first = static_cast<std::int64_t>(b) * S + P,
                         last = static_cast<std::int64_t>(b + 1) * S;
      const std::int64_t n = last - first;
      const Tensor reward = d.reward.view_rows(first, last), value = d.value.view_rows(first, last);
      Tensor z = d.z_a.view_rows(first, last);
      float discount = 1.f;
      for (int t = 0; t < H; ++t) {
        const Tensor act = d.actions[t].view_rows(first, last);
        const Tensor z_next = t + 1 == H ? d.z_term.view_rows(first, last)
                                         : (t % 2 == 0 ? d.z_a : d.z_b).view_rows(first, last);
        if (t == 0)
          model.step_from_shared_into(d.z0.view_rows(b, b + 1), z, act, reward, z_next);
        else {
          model.reward_into(z, act, reward);
          model.next_into(z, act, z_next);
        }
        k.mppi_accumulate(value.data(), reward.data(), n, discount,
                          t == 0 ? kernels::MppiAccumulate::kAssign : kernels::MppiAccumulate::kAdd,
                          k.stream);
        discount *= cfg_.discount;
        z = z_next;
      }
    }
  };
  // The first iteration of a batch size runs uncaptured (it sizes every buffer, which a capture
  // may not, and syncs the weights); the second captures; later ones replay.
  if (d.graphs.empty()) d.graphs.resize(static_cast<std::size_t>(max_batch_) + 1);
  d.graphs[static_cast<std::size_t>(B)].run(cuda_graphs_, sample_and_rollout);

  // Terminal value over every row: a sampled pi(z_H) action and the mean of two random heads.
  float gamma_h = 1.f;  // by repeated products, as the CPU path
  for (int t = 0; t < H; ++t) gamma_h *= cfg_.discount;
  model.policy_action_into(z_term, term_eps, term_action);
  model.value_into(z_term, term_action, std::span<const int>(heads, n_heads), q);
  k.mppi_accumulate(d.value.data(), q.data(), rows, gamma_h, kernels::MppiAccumulate::kAddNanToNum, k.stream);

  // Elites, weights and the refit on the device; the host keeps what the CPU path keeps.
  const int K = cfg_.num_elites;
  k.mppi_elite_refit(d.value.data(), d.actions.data(), d.mean.data(), d.std_dev.data(), d.elite.data(),
                     d.score.data(), d.elite_mean.data(), B, S, K, H, A, d.actions.size(1), cfg_.temperature,
                     cfg_.min_std, cfg_.max_std, k.stream);
  d.mean_current = true;
  auto download = [](const Tensor& t, std::int64_t n) {
    return t.view(Shape{t.numel()}).view_rows(0, n).to_vector();
  };
  const std::vector<float> mean = download(d.mean, static_cast<std::int64_t>(n_mean));
  const std::vector<float> sd = download(d.std_dev, static_cast<std::int64_t>(n_mean));
  const std::vector<float> elite = download(d.elite, static_cast<std::int64_t>(B) * K);
  const std::vector<float> score = download(d.score, static_cast<std::int64_t>(B) * K);
  std::copy(mean.begin(), mean.end(), mean_.begin());
  std::copy(sd.begin(), sd.end(), std_.begin());
  std::transform(elite.begin(), elite.end(), elite_.begin(), [](float e) { return static_cast<int>(e); });
  std::copy(score.begin(), score.end(), score_.begin());
  elite_trace_.push_back(download(d.elite_mean, 1)[0]);
  actions_[0].view_rows(0, rows).copy_from(d.actions[0].view_rows(0, rows));
}

Tensor Mppi::finish_cuda(int B) {
  const Tensor out = dev_.out.view_rows(0, B);
  out.copy_from(v_.out);
  return out;
}

}  // namespace lucid::planners
