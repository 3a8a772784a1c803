// The update's bulk dropout-mask draw: TD-MPC2 5M draws 3,014,656 mask values per update (5 Q
// heads x 3 x 256 x 512 and 2 x 4 x 256 x 512). Reports GB/s of mask written, one thread per lane
// set (0 = one block at a time, 1 = AVX2, 2 = AVX-512; sets the CPU lacks are skipped), and the
// Rng call the update makes, on lucid's threads. The draw is integer work (Philox rounds), not
// bandwidth: compare the lane sets with each other, not with the memory roofline.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "../../engine/rng/philox_lanes.h"
#include "lucid/engine/rng.h"

namespace lucid::bench {
namespace {

constexpr std::size_t kMaskValues = 3014656;  // a multiple of 64

void BM_DropoutMaskLanes1T(benchmark::State& state) {
  const auto isa = static_cast<rng_detail::PhiloxLanes>(state.range(0));
  if (!rng_detail::lanes_supported(isa)) {
    state.SkipWithError("this CPU lacks these instructions");
    return;
  }
  std::vector<float> out(kMaskValues);
  for (auto _ : state) {
    for (std::size_t i = 0; i < kMaskValues; i += 64)
      rng_detail::dropout64(isa, 1, 2, i / 4, 0.01f, 1.f / 0.99f, out.data() + i);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kMaskValues * sizeof(float)));
}
BENCHMARK(BM_DropoutMaskLanes1T)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DropoutMaskDraw(benchmark::State& state) {
  std::vector<float> out(kMaskValues);
  Rng rng(3);
  for (auto _ : state) {
    rng.dropout_mask(out.data(), out.size(), 0.01f);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kMaskValues * sizeof(float)));
}
BENCHMARK(BM_DropoutMaskDraw)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace lucid::bench
