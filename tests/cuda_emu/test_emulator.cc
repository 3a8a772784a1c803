// The emulator itself: barriers and shared memory, warp shuffles and votes, atomics, dynamic
// shared memory, launch-configuration errors, deadlock detection, memory-direction checks, graph
// capture and replay, per-stream launch counters, the cuBLAS shim, and the planted missing
// __syncthreads that only random fiber order exposes.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "emu_fixture.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid {
namespace {

using testing::DeviceBuffer;
using testing::EmuTest;

// ---- kernels under test ---------------------------------------------------------------------

// Classic shared-memory tree reduction: one partial sum per block.
template <int kThreads>
__global__ void block_sum_kernel(const float* x, int n, float* partial) {
  __shared__ float s[kThreads];
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  s[threadIdx.x] = i < n ? x[i] : 0.f;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (static_cast<int>(threadIdx.x) < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// Warp sums three ways; lanes beyond 32 in the block form further warps.
__global__ void warp_shuffle_kernel(const float* x, float* xor_sum, float* down_sum, float* up_scan,
                                    float* bcast) {
  const int t = static_cast<int>(threadIdx.x);
  const float v = x[t];
  float a = v;
  for (int m = 16; m > 0; m >>= 1) a += __shfl_xor_sync(0xffffffffu, a, m);
  xor_sum[t] = a;
  float d = v;
  for (int o = 16; o > 0; o >>= 1) d += __shfl_down_sync(0xffffffffu, d, static_cast<unsigned>(o));
  down_sum[t] = d;  // only lane 0 holds the full sum
  float s = v;      // inclusive prefix sum within segments of 16 lanes
  for (int o = 1; o < 16; o <<= 1) {
    const float y = __shfl_up_sync(0xffffffffu, s, static_cast<unsigned>(o), 16);
    if ((t % 16) >= o) s += y;
  }
  up_scan[t] = s;
  bcast[t] = __shfl_sync(0xffffffffu, v, 3);
}

__global__ void ballot_kernel(unsigned* out) {
  const unsigned bits = __ballot_sync(0xffffffffu, threadIdx.x % 3 == 0);
  const int all = __all_sync(0xffffffffu, threadIdx.x < 1000);
  const int any = __any_sync(0xffffffffu, threadIdx.x == 5);
  if (threadIdx.x % 32 == 0) {
    out[3 * (threadIdx.x / 32)] = bits;
    out[3 * (threadIdx.x / 32) + 1] = static_cast<unsigned>(all);
    out[3 * (threadIdx.x / 32) + 2] = static_cast<unsigned>(any);
  }
}

__global__ void atomics_kernel(const float* x, int n, float* sum, int* max_index, unsigned* cas_counter) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;
  atomicAdd(sum, x[i]);
  atomicMax(max_index, i);
  unsigned old = *cas_counter, seen;
  do {  // the CAS-loop idiom: increment through compare-and-swap
    seen = old;
    old = atomicCAS(cas_counter, seen, seen + 1u);
  } while (old != seen);
}

// Reverses each block's slice through dynamic shared memory.
__global__ void reverse_kernel(const float* x, float* y) {
  LUCID_DYNAMIC_SHARED(float, s);
  const unsigned base = blockIdx.x * blockDim.x;
  s[threadIdx.x] = x[base + threadIdx.x];
  __syncthreads();
  y[base + threadIdx.x] = s[blockDim.x - 1 - threadIdx.x];
}

// Reads dynamic shared memory nobody wrote: the emulator's poison makes it NaN.
__global__ void read_unwritten_smem_kernel(float* y) {
  LUCID_DYNAMIC_SHARED(float, s);
  y[threadIdx.x] = s[threadIdx.x];
}

// PLANTED BUG: each thread doubles its own slot, then reads its left neighbour's slot without
// a __syncthreads in between. In thread order the neighbour has always run first, so the bug is
// invisible; in random order some neighbours have not doubled yet.
template <bool kWithBarrier>
__global__ void neighbour_kernel(const float* x, float* y) {
  __shared__ float s[128];
  const unsigned t = threadIdx.x;
  s[t] = x[t];
  __syncthreads();
  s[t] = 2.f * s[t];
  if constexpr (kWithBarrier) __syncthreads();
  y[t] = s[t] + (t > 0 ? s[t - 1] : 0.f);
}

// PLANTED BUG: two block reductions reuse one scratch array, and the barrier that must separate
// the last read of the first from the first write of the second is missing. Only a warp racing
// ahead of another through the second reduction's shuffles exposes it.
__global__ void scratch_reuse_kernel(const float* x, float* sums) {
  __shared__ float scratch[32];
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  float v = x[blockIdx.x * blockDim.x + threadIdx.x];
  for (int pass = 0; pass < 2; ++pass) {
    float s = v;
    for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) scratch[warp] = s;  // BUG: needs a __syncthreads() before this on pass 1
    __syncthreads();
    float t = lane < warps ? scratch[lane] : 0.f;
    for (int o = 16; o > 0; o /= 2) t += __shfl_xor_sync(0xffffffffu, t, o);
    if (threadIdx.x == 0) sums[2 * blockIdx.x + static_cast<unsigned>(pass)] = t;
    v = 2.f * v;  // the second pass sums 2x
  }
}

__global__ void divergent_barrier_kernel(float* y) {
  if (threadIdx.x < 16)
    __syncthreads();  // half the warp waits for the block...
  else
    __syncwarp();  // ...the other half for the warp: neither barrier can complete
  y[threadIdx.x] = 1.f;
}

__global__ void index_kernel(unsigned* out) {
  const unsigned linear = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned block = blockIdx.x + gridDim.x * blockIdx.y;
  const unsigned tpb = blockDim.x * blockDim.y * blockDim.z;
  out[block * tpb + linear] = block * 1000u + linear;
}

__global__ void add_one_kernel(float* x, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) x[i] += 1.f;
}

std::vector<float> iota_vector(std::size_t n, float start = 1.f) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

// ---- tests ----------------------------------------------------------------------------------

TEST_F(EmuTest, SharedMemoryReductionMatchesHostSum) {
  for (int n : {1, 31, 256, 1000}) {
    const auto x = testing::random_vector(static_cast<std::size_t>(n), 7);
    DeviceBuffer<float> dx(x);
    constexpr int kThreads = 128;
    const unsigned blocks = cuda::blocks_for(static_cast<std::size_t>(n), kThreads);
    DeviceBuffer<float> partial(blocks);
    auto* k = &block_sum_kernel<kThreads>;
    LUCID_LAUNCH(k, blocks, kThreads, 0, nullptr, dx.get(), n, partial.get());
    const auto p = partial.download();
    const double got = std::accumulate(p.begin(), p.end(), 0.0);
    const double want = std::accumulate(x.begin(), x.end(), 0.0);
    EXPECT_NEAR(got, want, 1e-4) << "n=" << n;
  }
}

TEST_F(EmuTest, WarpShufflesAndSegments) {
  constexpr int kThreads = 64;
  const auto x = iota_vector(kThreads);
  DeviceBuffer<float> dx(x), xs(kThreads), ds(kThreads), us(kThreads), bc(kThreads);
  LUCID_LAUNCH(warp_shuffle_kernel, 1, kThreads, 0, nullptr, dx.get(), xs.get(), ds.get(), us.get(),
               bc.get());
  const auto xor_sum = xs.download(), down = ds.download(), up = us.download(), b = bc.download();
  for (int t = 0; t < kThreads; ++t) {
    const int w = t / 32;
    float warp_total = 0.f, seg_prefix = 0.f;
    for (int l = 0; l < 32; ++l) warp_total += x[static_cast<std::size_t>(w * 32 + l)];
    for (int l = t - t % 16; l <= t; ++l) seg_prefix += x[static_cast<std::size_t>(l)];
    EXPECT_EQ(xor_sum[static_cast<std::size_t>(t)], warp_total) << t;
    if (t % 32 == 0) {
      EXPECT_EQ(down[static_cast<std::size_t>(t)], warp_total) << t;
    }
    EXPECT_EQ(up[static_cast<std::size_t>(t)], seg_prefix) << t;
    EXPECT_EQ(b[static_cast<std::size_t>(t)], x[static_cast<std::size_t>(w * 32 + 3)]) << t;
  }
}

TEST_F(EmuTest, VotesSeeEveryLaneOfAShortWarp) {
  constexpr int kThreads = 40;  // a full warp and a warp of 8 lanes
  DeviceBuffer<unsigned> out(6);
  LUCID_LAUNCH(ballot_kernel, 1, kThreads, 0, nullptr, out.get());
  const auto o = out.download();
  unsigned want0 = 0, want1 = 0;
  for (int l = 0; l < 32; ++l)
    if (l % 3 == 0) want0 |= 1u << l;
  for (int l = 0; l < 8; ++l)
    if ((32 + l) % 3 == 0) want1 |= 1u << l;
  EXPECT_EQ(o[0], want0);
  EXPECT_EQ(o[1], 1u);
  EXPECT_EQ(o[2], 1u);  // lane 5 of warp 0
  EXPECT_EQ(o[3], want1);
  EXPECT_EQ(o[4], 1u);
  EXPECT_EQ(o[5], 0u);
}

TEST_F(EmuTest, AtomicsAcrossBlocks) {
  const int n = 777;
  const auto x = iota_vector(static_cast<std::size_t>(n), 0.f);
  DeviceBuffer<float> dx(x), sum(std::vector<float>{0.f});
  DeviceBuffer<int> mx(std::vector<int>{-1});
  DeviceBuffer<unsigned> counter(std::vector<unsigned>{0u});
  LUCID_LAUNCH(atomics_kernel, cuda::blocks_for(n, 96), 96, 0, nullptr, dx.get(), n, sum.get(), mx.get(),
               counter.get());
  EXPECT_EQ(sum.download()[0], static_cast<float>(n * (n - 1) / 2));
  EXPECT_EQ(mx.download()[0], n - 1);
  EXPECT_EQ(counter.download()[0], static_cast<unsigned>(n));
}

TEST_F(EmuTest, DynamicSharedMemoryAndItsLimit) {
  constexpr unsigned kThreads = 100, kBlocks = 3;
  const auto x = iota_vector(kThreads * kBlocks);
  DeviceBuffer<float> dx(x), dy(kThreads * kBlocks);
  LUCID_LAUNCH(reverse_kernel, kBlocks, kThreads, kThreads * sizeof(float), nullptr, dx.get(), dy.get());
  const auto y = dy.download();
  for (unsigned b = 0; b < kBlocks; ++b)
    for (unsigned t = 0; t < kThreads; ++t)
      ASSERT_EQ(y[b * kThreads + t], x[b * kThreads + kThreads - 1 - t]);

  DeviceBuffer<float> poison(32);
  LUCID_LAUNCH(read_unwritten_smem_kernel, 1, 32, 32 * sizeof(float), nullptr, poison.get());
  for (float v : poison.download()) EXPECT_TRUE(std::isnan(v));

  // 64 KiB is over the default 48 KiB until the kernel opts in, as on a GPU.
  EXPECT_THROW(LUCID_LAUNCH(reverse_kernel, 1, 32, 64 * 1024, nullptr, dx.get(), dy.get()), CudaError);
  LUCID_CUDA_CHECK(
      cudaFuncSetAttribute(reverse_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024));
  EXPECT_NO_THROW(LUCID_LAUNCH(reverse_kernel, 1, 32, 64 * 1024, nullptr, dx.get(), dy.get()));
}

TEST_F(EmuTest, InvalidLaunchConfigurationIsReported) {
  DeviceBuffer<float> y(8);
  EXPECT_THROW(LUCID_LAUNCH(add_one_kernel, 1, 2048, 0, nullptr, y.get(), 8), CudaError);
  EXPECT_THROW(LUCID_LAUNCH(add_one_kernel, 0, 32, 0, nullptr, y.get(), 8), CudaError);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // the check consumed the error
}

TEST_F(EmuTest, MultiDimensionalIndices) {
  const dim3 grid(3, 2), block(5, 4, 2);
  const unsigned tpb = 40, total = 6 * tpb;
  DeviceBuffer<unsigned> out(total);
  LUCID_LAUNCH(index_kernel, grid, block, 0, nullptr, out.get());
  const auto o = out.download();
  for (unsigned b = 0; b < 6; ++b)
    for (unsigned t = 0; t < tpb; ++t) ASSERT_EQ(o[b * tpb + t], b * 1000u + t);
}

TEST_F(EmuTest, PlantedMissingSyncthreadsIsCaughtByRandomOrder) {
  constexpr int kThreads = 128;
  const auto x = iota_vector(kThreads);
  std::vector<float> want(kThreads);
  for (int t = 0; t < kThreads; ++t) want[t] = 2.f * x[t] + (t > 0 ? 2.f * x[t - 1] : 0.f);
  DeviceBuffer<float> dx(x), dy(kThreads);
  auto* buggy = &neighbour_kernel<false>;
  auto* fixed = &neighbour_kernel<true>;

  // Thread order hides the bug...
  emu::set_random_order(false);
  LUCID_LAUNCH(buggy, 1, kThreads, 0, nullptr, dx.get(), dy.get());
  EXPECT_EQ(dy.download(), want) << "in thread order the missing barrier is invisible";

  // ...random order exposes it on every seed (128 threads almost never come in order)...
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    emu::set_random_order(true, seed);
    LUCID_LAUNCH(buggy, 1, kThreads, 0, nullptr, dx.get(), dy.get());
    EXPECT_NE(dy.download(), want) << "random order (seed " << seed
                                   << ") must expose the missing __syncthreads";
  }
  // ...and the corrected kernel passes in any order.
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    emu::set_random_order(true, seed);
    LUCID_LAUNCH(fixed, 1, kThreads, 0, nullptr, dx.get(), dy.get());
    EXPECT_EQ(dy.download(), want) << "seed " << seed;
  }
}

TEST_F(EmuTest, PlantedScratchReuseRaceIsCaughtByRandomOrder) {
  constexpr unsigned kThreads = 256, kBlocks = 8;
  const auto x = iota_vector(kThreads * kBlocks);
  DeviceBuffer<float> dx(x), sums(2 * kBlocks);
  auto all_right = [&] {
    const auto s = sums.download();
    for (unsigned b = 0; b < kBlocks; ++b) {
      double want = 0.0;
      for (unsigned t = 0; t < kThreads; ++t) want += x[b * kThreads + t];
      if (s[2 * b] != want || s[2 * b + 1] != 2 * want) return false;
    }
    return true;
  };
  emu::set_random_order(false);
  LUCID_LAUNCH(scratch_reuse_kernel, kBlocks, kThreads, 0, nullptr, dx.get(), sums.get());
  EXPECT_TRUE(all_right()) << "in thread order the race is invisible";
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    emu::set_random_order(true, seed);
    LUCID_LAUNCH(scratch_reuse_kernel, kBlocks, kThreads, 0, nullptr, dx.get(), sums.get());
    EXPECT_FALSE(all_right()) << "random order (seed " << seed << ") must expose the missing barrier";
  }
}

TEST_F(EmuTest, DivergentBarrierIsADeadlockError) {
  DeviceBuffer<float> y(32);
  try {
    LUCID_LAUNCH(divergent_barrier_kernel, 1, 32, 0, nullptr, y.get());
    FAIL() << "expected a deadlock error";
  } catch (const CudaError& e) {
    EXPECT_NE(std::string(e.what()).find("divergent_barrier_kernel"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("deadlocked"), std::string::npos) << e.what();
  }
}

TEST_F(EmuTest, MemcpyChecksDirectionAndBounds) {
  DeviceBuffer<float> d(4);
  std::vector<float> h(4, 1.f), h2(4);
  EXPECT_EQ(cudaMemcpy(d.get(), h.data(), 16, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(h2.data(), d.get(), 32, cudaMemcpyDeviceToHost),
            cudaErrorInvalidValue);  // past the end
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(d.get(), h.data(), 16, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(h2.data(), d.get(), 16, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(h2, h);
  EXPECT_TRUE(emu::is_device_pointer(d.get(), 16));
  EXPECT_FALSE(emu::is_device_pointer(h.data()));
  EXPECT_EQ(cudaFree(h.data()), cudaErrorInvalidDevicePointer);
  cudaGetLastError();
  // Fresh device memory is poisoned: a kernel reading it before writing would see NaN.
  DeviceBuffer<float> fresh(3);
  for (float v : fresh.download()) EXPECT_TRUE(std::isnan(v));
}

TEST_F(EmuTest, GraphCaptureRecordsAndReplays) {
  cudaStream_t s;
  LUCID_CUDA_CHECK(cudaStreamCreate(&s));
  const int n = 50;
  DeviceBuffer<float> x(std::vector<float>(n, 0.f));
  LUCID_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  LUCID_LAUNCH(add_one_kernel, 1, 64, 0, s, x.get(), n);
  LUCID_LAUNCH(add_one_kernel, 1, 64, 0, s, x.get(), n);
  cudaGraph_t graph;
  LUCID_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
  EXPECT_EQ(x.download(), std::vector<float>(n, 0.f)) << "capture must record, not run";
  cudaGraphExec_t exec;
  LUCID_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (int i = 0; i < 3; ++i) LUCID_CUDA_CHECK(cudaGraphLaunch(exec, s));
  EXPECT_EQ(x.download(), std::vector<float>(n, 6.f));
  const emu::Counters c = emu::counters(s);
  EXPECT_EQ(c.kernel_launches, 0u);
  EXPECT_EQ(c.graph_launches, 3u);
  EXPECT_EQ(c.graph_kernel_launches, 6u);
  LUCID_CUDA_CHECK(cudaGraphExecDestroy(exec));
  LUCID_CUDA_CHECK(cudaGraphDestroy(graph));
  LUCID_CUDA_CHECK(cudaStreamDestroy(s));
  EXPECT_EQ(emu::total_counters().graph_launches, 3u) << "a destroyed stream's counts stay in the total";
}

TEST_F(EmuTest, LaunchesAreCountedPerStream) {
  cudaStream_t a, b;
  LUCID_CUDA_CHECK(cudaStreamCreate(&a));
  LUCID_CUDA_CHECK(cudaStreamCreate(&b));
  DeviceBuffer<float> x(std::vector<float>(10, 0.f));
  for (int i = 0; i < 4; ++i) LUCID_LAUNCH(add_one_kernel, 1, 32, 0, a, x.get(), 10);
  LUCID_LAUNCH(add_one_kernel, 1, 32, 0, b, x.get(), 10);
  LUCID_LAUNCH(add_one_kernel, 1, 32, 0, nullptr, x.get(), 10);
  EXPECT_EQ(emu::counters(a).kernel_launches, 4u);
  EXPECT_EQ(emu::counters(b).kernel_launches, 1u);
  EXPECT_EQ(emu::counters(nullptr).kernel_launches, 1u);
  EXPECT_EQ(emu::total_counters().kernel_launches, 6u);
  EXPECT_EQ(x.download(), std::vector<float>(10, 6.f));
  cudaEvent_t e0, e1;
  LUCID_CUDA_CHECK(cudaEventCreate(&e0));
  LUCID_CUDA_CHECK(cudaEventCreate(&e1));
  LUCID_CUDA_CHECK(cudaEventRecord(e0, a));
  LUCID_LAUNCH(add_one_kernel, 1, 32, 0, a, x.get(), 10);
  LUCID_CUDA_CHECK(cudaEventRecord(e1, a));
  LUCID_CUDA_CHECK(cudaEventSynchronize(e1));
  float ms = -1.f;
  LUCID_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
  EXPECT_GE(ms, 0.f);
  LUCID_CUDA_CHECK(cudaEventDestroy(e0));
  LUCID_CUDA_CHECK(cudaEventDestroy(e1));
  LUCID_CUDA_CHECK(cudaStreamDestroy(a));
  LUCID_CUDA_CHECK(cudaStreamDestroy(b));
}

TEST_F(EmuTest, CublasSgemmIsColumnMajor) {
  // C(m x n) = A^T(m x k) * B(k x n), all column-major, batched twice with different strides.
  const int m = 5, n = 3, k = 7, batch = 2;
  const auto a = testing::random_vector(static_cast<std::size_t>(k * m * batch), 11);  // A stored k x m
  const auto b = testing::random_vector(static_cast<std::size_t>(k * n * batch), 12);
  DeviceBuffer<float> da(a), db(b), dc(std::vector<float>(static_cast<std::size_t>(m * n * batch), 1.f));
  cublasHandle_t h;
  LUCID_CUBLAS_CHECK(cublasCreate(&h));
  const float alpha = 2.f, beta = 0.5f;
  LUCID_CUBLAS_CHECK(cublasSgemmStridedBatched(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, da.get(), k,
                                               k * m, db.get(), k, k * n, &beta, dc.get(), m, m * n, batch));
  const auto c = dc.download();
  for (int bi = 0; bi < batch; ++bi)
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double ref = 0.5;
        for (int p = 0; p < k; ++p)
          ref += 2.0 * a[static_cast<std::size_t>(bi * k * m + i * k + p)] *
                 b[static_cast<std::size_t>(bi * k * n + j * k + p)];
        EXPECT_NEAR(c[static_cast<std::size_t>(bi * m * n + j * m + i)], ref, 1e-5);
      }
  EXPECT_EQ(emu::counters(nullptr).kernel_launches, 1u) << "one cuBLAS call is one launch";
  LUCID_CUBLAS_CHECK(cublasDestroy(h));
}

}  // namespace
}  // namespace lucid
