// Dream-MPC on the CUDA device: the whole plan call as device launches, captured as one CUDA
// graph per (batch, warm start) (see dream_mpc.h for what the host still does).
//
// Random numbers: the CPU path draws, in order, H bulk normals for the prior (one per step), then
// per iteration the head pair (scalar draws) and one normal vector of A per observation for the
// terminal policy noise. Here the host replays that walk on the Rng — the scalar draws for real,
// the bulk ones only as block offsets (philox_blocks) — and uploads the offsets; the graph's
// philox_normal_at launches read them, so each replay draws the CPU path's numbers.
//
// Launches of one uncaptured call (B = 1, H = 3, one iteration, 5M TD-MPC2): encode, the prior
// rollout and the iteration's forward and input-only backward (tdmpc2/action_gradient_cuda.h),
// H + B draws, the warm start, the terminal noise broadcast, clip-and-ascend and the selection.
#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "lucid/engine/cuda_launchers.h"
#include "lucid/engine/profile.h"
#include "lucid/error.h"
#include "lucid/kernels/cuda/random.h"
#include "lucid/models/tdmpc2/action_gradient_cuda.h"
#include "lucid/planners/action_ascent.h"
#include "lucid/planners/dream_mpc.h"

namespace lucid::planners {
namespace {

Tensor dev_zeros(std::int64_t rows, std::int64_t cols) {
  return Tensor::zeros(Shape{rows, cols}, Device::kCuda);
}

}  // namespace

Tensor DreamMpc::plan_cuda(const models::WorldModel& model, const Tensor& obs, Rng& rng) {
  const auto* tdmpc2 = dynamic_cast<const models::tdmpc2::Tdmpc2Model*>(&model);
  LUCID_CHECK(tdmpc2 != nullptr) << "dream-mpc on CUDA: TD-MPC2 models only (plan other models on the CPU)";
  const int B = static_cast<int>(obs.shape().rows());
  const int H = cfg_.horizon, A = cfg_.action_dim, L = cfg_.latent_dim, N = cfg_.num_pi_trajs;
  const int K = model.num_values(), iters = iterations(), rows = B * N;
  const std::int64_t max_rows = static_cast<std::int64_t>(max_batch_) * N;
  const std::size_t step = static_cast<std::size_t>(rows) * A;
  const int n_draws = H + iters * B;
  DeviceState& d = dev_;
  if (d.model != &model) {
    d = DeviceState{};
    d.grad = std::make_unique<models::tdmpc2::Tdmpc2ActionGradientCuda>(*tdmpc2);
    d.grad->reserve(static_cast<int>(max_rows), H);
    d.model = &model;
    const std::int64_t n_act = static_cast<std::int64_t>(H) * max_rows;
    d.obs = dev_zeros(max_batch_, obs.shape().cols());
    d.z0 = dev_zeros(max_batch_, L);
    d.z_rows = dev_zeros(max_rows, L);
    d.out = dev_zeros(max_batch_, A);
    for (Tensor* t : {&d.actions, &d.grad_buf, &d.stored, &d.prior, &d.prior_eps}) *t = dev_zeros(n_act, A);
    d.value = dev_zeros(max_rows, 1);
    d.term_draw = dev_zeros(static_cast<std::int64_t>(iters) * max_batch_, A);
    d.term_eps = dev_zeros(static_cast<std::int64_t>(iters) * max_rows, A);
    d.head_w = dev_zeros(iters, K);
    d.offsets = dev_zeros(H + static_cast<std::int64_t>(iters) * max_batch_, 2);  // uint64 bit patterns
    d.graphs.assign(2 * static_cast<std::size_t>(max_batch_) + 2, CudaGraphSlot{});
    warm_ = false;
  }
  LUCID_CHECK_SHAPE(obs.shape().cols() == d.obs.shape().cols())
      << "dream-mpc on CUDA: observation width " << obs.shape().cols() << " after " << d.obs.shape().cols();
  if (B != d.batch) warm_ = false;  // stored candidates belong to another batch layout
  d.batch = B;
  if (d.graph_seed != rng.seed() || d.graph_stream != rng.stream()) {
    // The graphs hold the Rng's (seed, stream) as launch arguments: another Rng needs new ones.
    for (CudaGraphSlot& g : d.graphs) g.release();
    d.graph_seed = rng.seed();
    d.graph_stream = rng.stream();
  }

  // ---- host: the Rng walk of the CPU path, and the per-call uploads ----
  std::vector<std::uint64_t> offsets(static_cast<std::size_t>(n_draws));
  std::vector<float> head_w(static_cast<std::size_t>(iters) * K, 0.f);
  for (int t = 0; t < H; ++t) {
    offsets[static_cast<std::size_t>(t)] = rng.offset();
    rng.set_offset(rng.offset() + kernels::philox_blocks(step));
  }
  for (int it = 0; it < iters; ++it) {
    int heads[2];
    const int n_heads = pick_two_heads(K, rng, heads);
    for (int i = 0; i < n_heads; ++i)
      head_w[static_cast<std::size_t>(it) * K + heads[i]] += 1.f / static_cast<float>(n_heads);
    for (int b = 0; b < B; ++b) {
      offsets[static_cast<std::size_t>(H + it * B + b)] = rng.offset();
      rng.set_offset(rng.offset() + kernels::philox_blocks(static_cast<std::size_t>(A)));
    }
  }
  std::vector<float> offset_bits(2 * offsets.size());
  std::memcpy(offset_bits.data(), offsets.data(), sizeof(std::uint64_t) * offsets.size());
  d.offsets.view_rows(0, n_draws).copy_from(Tensor::from(std::move(offset_bits), Shape{n_draws, 2}));
  d.head_w.copy_from(Tensor::from(std::move(head_w), Shape{iters, K}));
  d.obs.view_rows(0, B).copy_from(obs);
  tdmpc2->cuda_twin();  // re-uploads changed weights now: never inside a capture

  const bool warm = warm_;
  const CudaLaunchers& k = cuda_launchers();
  // The ranges inside `body` show on uncaptured calls (and at capture); a replay is one
  // `plan/device_call` range around one graph launch.
  auto body = [&] {
    std::optional<ProfileRange> prior_range(std::in_place, "plan/prior_rollout");
    const auto* off = reinterpret_cast<const std::uint64_t*>(d.offsets.data());
    model.encode_into(d.obs.view_rows(0, B), d.z0.view_rows(0, B));
    k.expand(d.z0.data(), kernels::Dims4{{1, B, 1, L}}, d.z_rows.data(), kernels::Dims4{{1, B, N, L}}, 1.f,
             k.stream);
    for (int t = 0; t < H; ++t)
      k.philox_normal_at(d.prior_eps.data() + t * step, step, rng.seed(), rng.stream(), off + t, k.stream);
    d.grad->policy_rollout(d.z_rows.data(), d.prior_eps.data(), rows, H, d.prior.data());
    k.dream_warm_start(d.prior.data(), d.stored.data(), d.actions.data(), nullptr, H, rows, A,
                       cfg_.action_reusage_coefficient, warm, k.stream);
    prior_range.reset();
    models::RolloutObjective obj = objective();
    for (int it = 0; it < iters; ++it) {
      const ProfileRange iteration_range("plan/iteration");
      float* draw = d.term_draw.data() + static_cast<std::size_t>(it) * B * A;
      float* eps = d.term_eps.data() + static_cast<std::size_t>(it) * step;
      for (int b = 0; b < B; ++b)
        k.philox_normal_at(draw + static_cast<std::size_t>(b) * A, static_cast<std::size_t>(A), rng.seed(),
                           rng.stream(), off + H + it * B + b, k.stream);
      // One terminal noise per observation, shared by its N candidates (vmap randomness="same").
      k.expand(draw, kernels::Dims4{{1, B, 1, A}}, eps, kernels::Dims4{{1, B, N, A}}, 1.f, k.stream);
      obj.terminal_eps = eps;
      obj.head_weights = d.head_w.data() + static_cast<std::size_t>(it) * K;
      d.grad->evaluate(d.z_rows.data(), d.actions.data(), rows, obj, d.value.data(), d.grad_buf.data());
      k.dream_clip_ascend(d.grad_buf.data(), d.actions.data(), H, B, N, A, cfg_.grad_clip_norm, cfg_.mpc_lr,
                          k.stream);
    }
    const ProfileRange select_range("plan/select");
    k.dream_select(d.value.data(), d.actions.data(), d.out.data(), d.stored.data(), H, B, N, A, k.stream);
  };

  const ProfileRange range("plan/device_call");
  // A key's first call runs uncaptured (it sizes the model twin's scratch, which a capture may
  // not), its second captures, later ones replay.
  d.graphs[2 * static_cast<std::size_t>(B) + (warm ? 1 : 0)].run(cuda_graphs_, body);
  warm_ = true;
  return d.out.view_rows(0, B);
}

}  // namespace lucid::planners
