// Shared pieces of bench_engine: FLOP counters, deterministic inputs, and the thread policy.
//
// Threads: lucid's policy (kernels/threading.h) gives OpenMP all N threads and OpenBLAS one, so
// the two pools never fight over the 2 cores. Benchmarks that time OpenBLAS by itself (the sgemm
// roofline, the plain-BLAS baselines) hand OpenBLAS the same N threads for their duration through
// BlasThreads, so "lucid vs BLAS" always compares N cores with N cores.
#pragma once

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdint>
#include <vector>

#include "lucid/engine/rng.h"
#include "lucid/kernels/threading.h"

namespace lucid::bench {

inline std::vector<float> randn(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
  std::vector<float> v(n);
  Rng(seed).normal(v.data(), n);
  for (float& x : v) x *= scale;
  return v;
}

// Reports FLOP/s (from FLOPs per iteration) and items/s (e.g. rows per iteration).
inline void set_flops(benchmark::State& state, double flops_per_iter, double items_per_iter) {
  state.counters["FLOP/s"] =
      benchmark::Counter(flops_per_iter, benchmark::Counter::kIsIterationInvariantRate);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items_per_iter));
}

class BlasThreads {
 public:
  BlasThreads() { openblas_set_num_threads(kernels::num_threads()); }
  ~BlasThreads() { openblas_set_num_threads(1); }
  BlasThreads(const BlasThreads&) = delete;
  BlasThreads& operator=(const BlasThreads&) = delete;
};

}  // namespace lucid::bench
