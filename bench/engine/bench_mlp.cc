// Model-level benchmarks on the engine's ops and tape, at TD-MPC2 5M shapes:
//   BM_MlpTrainStep/<batch>: 512 -> NormedLinear(512, Mish) -> NormedLinear(512, Mish) ->
//     Linear(512), MSE against a target, backward, one Adam step (dropout 0, so it is omitted).
//   BM_SmallLinear/<M>: the engine's no-grad linear at planning batches (M x 518 -> 512).
//   BM_EnsembleQForward/<batch>: 5 Q heads, (latent 512 + action 6) -> 512 -> 512 -> 101, each
//     hidden layer LayerNorm + Mish, dropout off, no grad (what the planners call).
// Parameters live in one arena per model (params and grads contiguous), as the engine's nn does,
// so the Adam step is one flat loop. FLOP counters count only the GEMMs (2·m·n·k each); the
// train step needs 8 of them per step (3 forward, 5 backward: no input gradient for layer 1).
#include <span>

#include "bench_common.h"
#include "lucid/engine/autograd.h"
#include "lucid/engine/ops.h"
#include "lucid/engine/optim.h"

namespace lucid::bench {
namespace {

// A parameter arena: one params block, one grads block, and typed views into both.
class Arena {
 public:
  explicit Arena(std::int64_t total)
      : params_(Tensor::zeros(Shape{total})), grads_(Tensor::zeros(Shape{total})) {}
  // Next parameter of `shape`, filled with N(0, scale^2) (scale 0 -> constant `fill`).
  Tensor add(const Shape& shape, std::uint64_t seed, float scale, float fill = 0.0f) {
    const std::int64_t n = shape.numel();
    Tensor p = params_.view_rows(used_, used_ + n).view(shape);
    Tensor g = grads_.view_rows(used_, used_ + n).view(shape);
    const std::vector<float> init = randn(std::size_t(n), seed, scale);
    for (std::int64_t i = 0; i < n; ++i) p.data()[i] = scale == 0.0f ? fill : init[std::size_t(i)];
    p.bump_version();
    p.set_requires_grad(true);
    p.set_grad(g);
    used_ += n;
    return p;
  }
  std::span<float> params() { return {params_.data(), std::size_t(params_.numel())}; }
  std::span<float> grads() { return {grads_.data(), std::size_t(grads_.numel())}; }
  void after_step() { params_.bump_version(); }
  void zero_grad() { grads_.fill(0.0f); }

 private:
  Tensor params_, grads_;
  std::int64_t used_ = 0;
};

struct NormedLinear {
  Tensor w, b, gamma, beta;
  static std::int64_t size(std::int64_t in, std::int64_t out) { return out * in + 3 * out; }
  NormedLinear(Arena& a, std::int64_t in, std::int64_t out, std::uint64_t seed)
      : w(a.add(Shape{out, in}, seed, 0.02f)),
        b(a.add(Shape{out}, 0, 0.0f)),
        gamma(a.add(Shape{out}, 0, 0.0f, 1.0f)),
        beta(a.add(Shape{out}, 0, 0.0f)) {}
  Tensor operator()(const Tensor& x) const { return layernorm_mish(linear(x, w, b), gamma, beta); }
};

constexpr std::int64_t kDim = 512;

void BM_MlpTrainStep(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  Arena arena(2 * NormedLinear::size(kDim, kDim) + kDim * kDim + kDim);
  NormedLinear l1(arena, kDim, kDim, 11), l2(arena, kDim, kDim, 12);
  Tensor w3 = arena.add(Shape{kDim, kDim}, 13, 0.02f), b3 = arena.add(Shape{kDim}, 0, 0.0f);
  Adam adam(arena.params().size(), {}, AdamOptions{.lr = 3e-4f});
  const Tensor x = Tensor::from(randn(std::size_t(batch * kDim), 1), Shape{batch, kDim});
  const Tensor target = Tensor::from(randn(std::size_t(batch * kDim), 2), Shape{batch, kDim});
  for (auto _ : state) {
    arena.zero_grad();
    const Tensor loss = mse(linear(l2(l1(x)), w3, b3), target);
    backward(loss);
    adam.step(arena.params(), arena.grads());
    arena.after_step();
    benchmark::DoNotOptimize(loss.data());
  }
  set_flops(state, 8.0 * 2.0 * double(batch) * kDim * kDim, double(batch));
}
BENCHMARK(BM_MlpTrainStep)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SmallLinear(benchmark::State& state) {
  const std::int64_t m = state.range(0), in = 518;
  const Tensor x = Tensor::from(randn(std::size_t(m * in), 1), Shape{m, in});
  const Tensor w = Tensor::from(randn(std::size_t(kDim * in), 2, 0.02f), Shape{kDim, in});
  const Tensor b = Tensor::from(randn(std::size_t(kDim), 3), Shape{kDim});
  NoGrad no_grad;
  for (auto _ : state) {
    const Tensor y = linear(x, w, b);
    benchmark::DoNotOptimize(y.data());
  }
  set_flops(state, 2.0 * double(m) * in * kDim, double(m));
}
BENCHMARK(BM_SmallLinear)->Arg(8)->Arg(16)->Arg(32)->Arg(64)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The 5 heads as stacked weights (ensemble_linear); LayerNorm+Mish per head, since each head has
// its own gamma/beta.
void BM_EnsembleQForward(benchmark::State& state) {
  constexpr std::int64_t kHeads = 5, kIn = 518, kBins = 101;
  const std::int64_t batch = state.range(0);
  auto param = [](const Shape& s, std::uint64_t seed, float scale) {
    return Tensor::from(randn(std::size_t(s.numel()), seed, scale), s);
  };
  const Tensor w1 = param(Shape{kHeads, kDim, kIn}, 1, 0.02f), b1 = param(Shape{kHeads, kDim}, 2, 0.01f);
  const Tensor w2 = param(Shape{kHeads, kDim, kDim}, 3, 0.02f), b2 = param(Shape{kHeads, kDim}, 4, 0.01f);
  const Tensor w3 = param(Shape{kHeads, kBins, kDim}, 5, 0.02f), b3 = param(Shape{kHeads, kBins}, 6, 0.01f);
  const Tensor g1 = param(Shape{kHeads, kDim}, 7, 0.1f), be1 = param(Shape{kHeads, kDim}, 8, 0.1f);
  const Tensor g2 = param(Shape{kHeads, kDim}, 9, 0.1f), be2 = param(Shape{kHeads, kDim}, 10, 0.1f);
  const Tensor za = Tensor::from(randn(std::size_t(batch * kIn), 11), Shape{batch, kIn});
  auto ln_mish_heads = [&](const Tensor& h, const Tensor& g, const Tensor& be) {
    std::vector<Tensor> heads;
    for (std::int64_t e = 0; e < kHeads; ++e) heads.push_back(layernorm_mish(h[e], g[e], be[e]));
    return reshape(concat(heads, 0), Shape{kHeads, batch, kDim});
  };
  NoGrad no_grad;
  for (auto _ : state) {
    const Tensor h1 = ln_mish_heads(ensemble_linear(za, w1, b1), g1, be1);
    const Tensor h2 = ln_mish_heads(ensemble_linear(h1, w2, b2), g2, be2);
    const Tensor q = ensemble_linear(h2, w3, b3);
    benchmark::DoNotOptimize(q.data());
  }
  set_flops(state, 2.0 * kHeads * double(batch) * (kIn * kDim + kDim * kDim + kDim * kBins), double(batch));
}
BENCHMARK(BM_EnsembleQForward)->Arg(64)->Arg(512)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace lucid::bench
