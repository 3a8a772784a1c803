// GEMM benchmarks: the OpenBLAS sgemm roofline of this machine and the small-batch linear
// (planning batches, M x 518 -> 512) on lucid's pre-packed path beside a plain cblas_sgemm call.
#include <cblas.h>

#include "bench_common.h"
#include "lucid/kernels/gemm_small.h"

namespace lucid::bench {
namespace {

constexpr int kIn = 518, kOut = 512;  // TD-MPC2 5M: latent 512 + action 6 -> 512

// 1024^3 sgemm with OpenBLAS on all threads: the GFLOP/s every other number is compared with.
void BM_SgemmPeak(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::vector<float> a = randn(std::size_t(n) * n, 1), b = randn(std::size_t(n) * n, 2);
  std::vector<float> c(std::size_t(n) * n);
  BlasThreads blas;
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, 2.0 * n * n * n, 1);
}
BENCHMARK(BM_SgemmPeak)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

// y = x W^T + b through the packed-weight cache (a hit: weights unchanged between calls).
void BM_SmallLinearKernel(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  const std::vector<float> x = randn(std::size_t(m) * kIn, 1), w = randn(std::size_t(kOut) * kIn, 2, 0.02f),
                           b = randn(kOut, 3);
  std::vector<float> y(std::size_t(m) * kOut);
  kernels::init_threads();
  for (auto _ : state) {
    kernels::gemm_small_cpu(true, m, kOut, kIn, 1.0f, x.data(), kIn, w.data(), kIn, /*version=*/0, 0.0f,
                            y.data(), kOut, b.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, 2.0 * m * kIn * kOut, m);
  state.SetLabel(kernels::gemm_small_isa());
}
BENCHMARK(BM_SmallLinearKernel)
    ->Arg(8)
    ->Arg(16)
    ->Arg(32)
    ->Arg(64)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// The same product as one plain cblas_sgemm call (no bias), OpenBLAS on all threads.
void BM_SmallLinearBlas(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  const std::vector<float> x = randn(std::size_t(m) * kIn, 1), w = randn(std::size_t(kOut) * kIn, 2, 0.02f);
  std::vector<float> y(std::size_t(m) * kOut);
  BlasThreads blas;
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, kOut, kIn, 1.0f, x.data(), kIn, w.data(), kIn,
                0.0f, y.data(), kOut);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, 2.0 * m * kIn * kOut, m);
}
BENCHMARK(BM_SmallLinearBlas)
    ->Arg(8)
    ->Arg(16)
    ->Arg(32)
    ->Arg(64)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// One-thread variants, so the per-core speed of both paths is visible too.
void BM_SmallLinearKernel1T(benchmark::State& state) {
  const int saved = kernels::num_threads();
  kernels::set_num_threads(1);
  BM_SmallLinearKernel(state);
  kernels::set_num_threads(saved);
}
BENCHMARK(BM_SmallLinearKernel1T)->Arg(8)->Arg(64)->Arg(512)->Unit(benchmark::kMicrosecond)->UseRealTime();

// One thread, each micro-kernel the CPU has (range(1): 2 = AVX-512, 1 = AVX2/FMA, 0 = portable):
// the packed path at MPPI's 512 rows and Dream-MPC's 5, kernel against kernel in one run.
void BM_SmallLinearKernelIsa1T(benchmark::State& state) {
  const auto isa = static_cast<kernels::GemmIsa>(state.range(1));
  if (!kernels::gemm_small_cpu_has(isa)) {
    state.SkipWithError("this CPU lacks the instructions of this kernel");
    return;
  }
  kernels::gemm_small_cap_isa(isa);
  BM_SmallLinearKernel1T(state);
  kernels::gemm_small_cap_isa(kernels::GemmIsa::avx512);
}
BENCHMARK(BM_SmallLinearKernelIsa1T)
    ->ArgsProduct({{5, 64, 512}, {2, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void BM_SmallLinearBlas1T(benchmark::State& state) {
  const int saved = kernels::num_threads();
  kernels::set_num_threads(1);
  BM_SmallLinearBlas(state);
  kernels::set_num_threads(saved);
}
BENCHMARK(BM_SmallLinearBlas1T)->Arg(8)->Arg(64)->Arg(512)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace lucid::bench
