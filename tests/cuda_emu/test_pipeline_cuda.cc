// Kernels composed the way the engine will use them: a TD-MPC2 Q ensemble forward on the GPU
// (stacked strided-batched cuBLAS GEMMs, the fused bias+LayerNorm+Mish epilogue, the fused output
// decode) against the same network composed from CPU ops; its launch count (2 per layer); its
// capture as a CUDA graph replayed on new inputs; and the caching device allocator.
#include <gtest/gtest.h>

#include <vector>

#include "emu_fixture.h"
#include "lucid/kernels/cuda/device_memory.h"
#include "lucid/kernels/cuda/layernorm.h"
#include "lucid/kernels/cuda/q_head.h"
#include "lucid/kernels/gemm.h"
#include "lucid/kernels/layernorm.h"
#include "lucid/kernels/softmax.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using testing::all_close;
using testing::DeviceBuffer;
using testing::random_vector;

class PipelineCuda : public testing::EmuTest {};

constexpr int kBins = 101;
constexpr float kVmin = -10.f, kVmax = 10.f;

// E heads of in -> hidden (LN+Mish) -> 101 bins, weights in torch layout (out x in) per head.
struct QEnsemble {
  int heads, in, hidden;
  std::vector<float> w1, b1, g1, be1, w2, b2;
  QEnsemble(int e, int i, int h)
      : heads(e),
        in(i),
        hidden(h),
        w1(random_vector(static_cast<std::size_t>(e * h * i), 1, -0.2f, 0.2f)),
        b1(random_vector(static_cast<std::size_t>(e * h), 2, -0.1f, 0.1f)),
        g1(random_vector(static_cast<std::size_t>(e * h), 3, 0.8f, 1.2f)),
        be1(random_vector(static_cast<std::size_t>(e * h), 4, -0.1f, 0.1f)),
        w2(random_vector(static_cast<std::size_t>(e * kBins * h), 5, -0.2f, 0.2f)),
        b2(random_vector(static_cast<std::size_t>(e * kBins), 6, -0.1f, 0.1f)) {}
};

// The CPU composition: per head, gemm + bias, LayerNorm+Mish, gemm + bias, softmax, expectation,
// symexp; then the mean of heads a and b.
std::vector<float> q_avg_cpu(const QEnsemble& q, const std::vector<float>& x, int rows, int a, int b) {
  std::vector<float> out(static_cast<std::size_t>(rows), 0.f);
  std::vector<float> h(static_cast<std::size_t>(rows * q.hidden)), y(h.size()), mean(rows), rstd(rows);
  std::vector<float> logits(static_cast<std::size_t>(rows * kBins)), p(logits.size());
  for (int e : {a, b}) {
    const float* w1 = q.w1.data() + e * q.hidden * q.in;
    kernels::gemm_cpu(false, true, rows, q.hidden, q.in, 1.f, x.data(), q.in, w1, q.in, 0.f, h.data(),
                      q.hidden);
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < q.hidden; ++c)
        h[static_cast<std::size_t>(r * q.hidden + c)] += q.b1[static_cast<std::size_t>(e * q.hidden + c)];
    kernels::layernorm_forward_cpu(h.data(), q.g1.data() + e * q.hidden, q.be1.data() + e * q.hidden,
                                   y.data(), mean.data(), rstd.data(), rows, q.hidden, 1e-5f, true);
    kernels::gemm_cpu(false, true, rows, kBins, q.hidden, 1.f, y.data(), q.hidden,
                      q.w2.data() + e * kBins * q.hidden, q.hidden, 0.f, logits.data(), kBins);
    for (int r = 0; r < rows; ++r)
      for (int k = 0; k < kBins; ++k)
        logits[static_cast<std::size_t>(r * kBins + k)] += q.b2[static_cast<std::size_t>(e * kBins + k)];
    kernels::softmax_forward_cpu(logits.data(), p.data(), rows, kBins, false);
    for (int r = 0; r < rows; ++r) {
      float m = 0.f;
      for (int k = 0; k < kBins; ++k)
        m += p[static_cast<std::size_t>(r * kBins + k)] * (kVmin + 0.2f * static_cast<float>(k));
      out[static_cast<std::size_t>(r)] += 0.5f * std::copysign(std::expm1(std::fabs(m)), m);
    }
  }
  return out;
}

// The GPU forward: 4 launches for the whole ensemble.
struct QEnsembleGpu {
  DeviceBuffer<float> w1, b1, g1, be1, w2, b2, h, y, mean, rstd, logits;
  int heads, in, hidden, rows;
  QEnsembleGpu(const QEnsemble& q, int r)
      : w1(q.w1),
        b1(q.b1),
        g1(q.g1),
        be1(q.be1),
        w2(q.w2),
        b2(q.b2),
        h(static_cast<std::size_t>(q.heads * r * q.hidden)),
        y(h.size()),
        mean(static_cast<std::size_t>(q.heads * r)),
        rstd(mean.size()),
        logits(static_cast<std::size_t>(q.heads * r * kBins)),
        heads(q.heads),
        in(q.in),
        hidden(q.hidden),
        rows(r) {}

  void forward(cublasHandle_t blas, const float* x, float* out, int a, int b, cudaStream_t s) {
    const float one = 1.f, zero = 0.f;
    // Row-major H_e = X W1_e^T is column-major H_e^T = W1_e X^T; the input is shared (stride 0).
    LUCID_CUBLAS_CHECK(cublasSgemmStridedBatched(blas, CUBLAS_OP_T, CUBLAS_OP_N, hidden, rows, in, &one,
                                                 w1.get(), in, static_cast<long long>(hidden) * in, x, in, 0,
                                                 &zero, h.get(), hidden,
                                                 static_cast<long long>(rows) * hidden, heads));
    kernels::ensemble_layernorm_forward_cuda(h.get(), b1.get(), g1.get(), be1.get(), y.get(), mean.get(),
                                             rstd.get(), heads, rows, hidden, 1e-5f, true, s);
    LUCID_CUBLAS_CHECK(cublasSgemmStridedBatched(
        blas, CUBLAS_OP_T, CUBLAS_OP_N, kBins, rows, hidden, &one, w2.get(), hidden,
        static_cast<long long>(kBins) * hidden, y.get(), hidden, static_cast<long long>(rows) * hidden, &zero,
        logits.get(), kBins, static_cast<long long>(rows) * kBins, heads));
    kernels::q_head_decode_forward_cuda(logits.get(), b2.get(), nullptr, out, heads, rows, kBins, kVmin,
                                        kVmax, a, b, kernels::QCombine::kAvg, s);
  }
};

TEST_F(PipelineCuda, QEnsembleForwardMatchesCpuInTwoLaunchesPerLayerAndReplaysAsAGraph) {
  const int heads = 5, in = 37, hidden = 64, rows = 9, a = 1, b = 3;
  const QEnsemble q(heads, in, hidden);
  const auto x1 = random_vector(static_cast<std::size_t>(rows * in), 10), x2 = random_vector(x1.size(), 11);
  QEnsembleGpu gpu(q, rows);
  DeviceBuffer<float> dx(x1), out(static_cast<std::size_t>(rows));
  cudaStream_t s;
  LUCID_CUDA_CHECK(cudaStreamCreate(&s));
  cublasHandle_t blas;
  LUCID_CUBLAS_CHECK(cublasCreate(&blas));
  LUCID_CUBLAS_CHECK(cublasSetStream(blas, s));

  gpu.forward(blas, dx.get(), out.get(), a, b, s);
  LUCID_CUDA_CHECK(cudaStreamSynchronize(s));
  EXPECT_TRUE(all_close(out.download().data(), q_avg_cpu(q, x1, rows, a, b).data(), rows, 1e-4, 1e-3));
#if defined(LUCID_EMU)
  EXPECT_EQ(emu::counters(s).kernel_launches, 4u) << "GEMM + fused epilogue per layer, 2 layers";

  // Capture once, replay on a new input written into the same buffer: one graph launch per call.
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  LUCID_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  gpu.forward(blas, dx.get(), out.get(), a, b, s);
  LUCID_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
  LUCID_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  dx.upload(x2);
  LUCID_CUDA_CHECK(cudaGraphLaunch(exec, s));
  LUCID_CUDA_CHECK(cudaStreamSynchronize(s));
  EXPECT_TRUE(all_close(out.download().data(), q_avg_cpu(q, x2, rows, a, b).data(), rows, 1e-4, 1e-3));
  EXPECT_EQ(emu::counters(s).graph_launches, 1u);
  EXPECT_EQ(emu::counters(s).graph_kernel_launches, 4u);
  EXPECT_EQ(emu::counters(s).kernel_launches, 4u) << "capturing records, it does not launch";
  LUCID_CUDA_CHECK(cudaGraphExecDestroy(exec));
  LUCID_CUDA_CHECK(cudaGraphDestroy(graph));
#endif
  LUCID_CUBLAS_CHECK(cublasDestroy(blas));
  LUCID_CUDA_CHECK(cudaStreamDestroy(s));
}

TEST_F(PipelineCuda, DeviceCacheReusesFreedBlocks) {
  cuda::DeviceCache cache;
  void* p = cache.allocate(1000);
  const cuda::DeviceCacheStats s0 = cache.stats();
  EXPECT_EQ(s0.device_mallocs, 1u);
  EXPECT_EQ(s0.bytes_in_use, cuda::DeviceCache::round_size(1000));
  cache.deallocate(p);
  void* q = cache.allocate(900);  // same rounded size: served from the cache
  EXPECT_EQ(q, p);
  const cuda::DeviceCacheStats s1 = cache.stats();
  EXPECT_EQ(s1.device_mallocs, 1u);
  EXPECT_EQ(s1.cache_hits, 1u);
  void* big = cache.allocate((3u << 20) + 5);
  EXPECT_EQ(cache.stats().device_mallocs, 2u);
  EXPECT_LE(cuda::DeviceCache::round_size((3u << 20) + 5), ((3u << 20) + 5) * 9 / 8);
  LUCID_CUDA_CHECK(cudaMemset(big, 0, (3u << 20) + 5));  // a real device block
  cache.deallocate(big);
  cache.deallocate(q);
  EXPECT_EQ(cache.stats().bytes_in_use, 0u);
#if defined(LUCID_EMU)
  const std::size_t live = emu::live_device_bytes();
  cache.release_cached();
  EXPECT_LT(emu::live_device_bytes(), live) << "release_cached frees the cached blocks";
#endif
  EXPECT_EQ(cache.stats().bytes_cached, 0u);
  int on_stack = 0;
  EXPECT_THROW(cache.deallocate(&on_stack), CudaError);
}

}  // namespace
}  // namespace lucid
