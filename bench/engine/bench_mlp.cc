// Model-level benchmarks on the engine's nn, ops and tape, at TD-MPC2 5M shapes:
//   BM_MlpTrainStep/<batch>: nn::Mlp 512 -> NormedLinear(512, Mish) -> NormedLinear(512, Mish) ->
//     Linear(512) (dropout 0), MSE against a target, backward, one Adam step over the arena.
//   BM_SmallLinear/<M>: the engine's no-grad linear at planning batches (M x 518 -> 512).
//   BM_EnsembleQForward/<batch>: nn::Ensemble of 5 Q heads, (latent 512 + action 6) -> 512 ->
//     512 -> 101, LayerNorm + Mish hidden layers, dropout off, no grad (what planners call).
// FLOP counters count only the GEMMs (2·m·n·k each); the train step needs 8 per step (3 forward,
// 5 backward: no input gradient for the first layer).
#include "bench_common.h"
#include "lucid/engine/autograd.h"
#include "lucid/engine/nn.h"
#include "lucid/engine/ops.h"
#include "lucid/engine/optim.h"

namespace lucid::bench {
namespace {

constexpr int kDim = 512;

void BM_MlpTrainStep(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  nn::ParamArena arena;
  const nn::Mlp mlp(arena, "mlp", nn::MlpSpec{kDim, {kDim, kDim}, kDim, std::nullopt, 0.f});
  arena.allocate();
  Rng rng(0);
  mlp.init(rng);
  Adam adam(arena.size(), {}, AdamOptions{.lr = 3e-4f});
  const Tensor x = Tensor::from(randn(std::size_t(batch * kDim), 1), Shape{batch, kDim});
  const Tensor target = Tensor::from(randn(std::size_t(batch * kDim), 2), Shape{batch, kDim});
  for (auto _ : state) {
    arena.zero_grad();
    const Tensor loss = mse(mlp.forward(x), target);
    backward(loss);
    adam.step(arena.params(), arena.grads());
    arena.bump_version();
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

void BM_EnsembleQForward(benchmark::State& state) {
  constexpr int kHeads = 5, kIn = 518, kBins = 101;
  const std::int64_t batch = state.range(0);
  nn::ParamArena arena;
  const nn::Ensemble q(arena, "q", kHeads, nn::MlpSpec{kIn, {kDim, kDim}, kBins, std::nullopt, 0.f});
  arena.allocate();
  Rng rng(0);
  q.init(rng);
  const Tensor za = Tensor::from(randn(std::size_t(batch * kIn), 11), Shape{batch, kIn});
  NoGrad no_grad;
  for (auto _ : state) {
    const Tensor out = q.forward(za);
    benchmark::DoNotOptimize(out.data());
  }
  set_flops(state, 2.0 * kHeads * double(batch) * (kIn * kDim + kDim * kDim + kDim * kBins), double(batch));
}
BENCHMARK(BM_EnsembleQForward)->Arg(64)->Arg(512)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace lucid::bench
