// bench_agents: the two-hot decode that turns every reward and Q head output into a scalar
// (symexp of the softmax-weighted bin centre over 101 bins), at MPPI's 512 rows per call.
// BM_TwoHotDecode is lucid's models::tdmpc2::two_hot_inv_rows; BM_TwoHotDecodeScalarLibm is the
// same arithmetic as a plain scalar loop over libm's expf, the form it replaced, kept here as the
// baseline it must beat. bytes/s counts the logits read once.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "lucid/engine/rng.h"
#include "lucid/models/tdmpc2/model.h"

namespace {

constexpr int kRows = 512;

std::vector<float> random_logits(int bins) {
  lucid::Rng rng(3);
  std::vector<float> l(static_cast<std::size_t>(kRows) * bins);
  rng.normal(l.data(), l.size());
  return l;
}

void scalar_libm_decode(const float* logits, int rows, const lucid::models::tdmpc2::Tdmpc2Config& cfg,
                        float* out) {
  const int nb = cfg.num_bins;
  const float bs = cfg.bin_size();
  for (int r = 0; r < rows; ++r) {
    const float* l = logits + static_cast<std::size_t>(r) * nb;
    float mx = l[0];
    for (int j = 1; j < nb; ++j) mx = std::max(mx, l[j]);
    float sum = 0.f, dot = 0.f;
    for (int j = 0; j < nb; ++j) {
      const float e = std::exp(l[j] - mx);
      sum += e;
      dot += e * (cfg.vmin + bs * static_cast<float>(j));
    }
    const float m = dot / sum;
    out[r] = std::copysign(std::expm1(std::fabs(m)), m);  // symexp
  }
}

template <bool kLucid>
void run(benchmark::State& state) {
  const lucid::models::tdmpc2::Tdmpc2Config cfg = lucid::models::tdmpc2::tdmpc2_preset(1, 24, 6);
  const std::vector<float> logits = random_logits(cfg.num_bins);
  std::vector<float> out(kRows);
  for (auto _ : state) {
    if constexpr (kLucid)
      lucid::models::tdmpc2::two_hot_inv_rows(logits.data(), kRows, cfg, out.data());
    else
      scalar_libm_decode(logits.data(), kRows, cfg, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(logits.size() * sizeof(float)));
}

void BM_TwoHotDecode(benchmark::State& state) { run<true>(state); }
void BM_TwoHotDecodeScalarLibm(benchmark::State& state) { run<false>(state); }
BENCHMARK(BM_TwoHotDecode)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TwoHotDecodeScalarLibm)->Unit(benchmark::kMicrosecond);

}  // namespace
