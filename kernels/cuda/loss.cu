// Fused MSE on the GPU. Contract and shapes: lucid/kernels/cuda/loss.h (CPU twin:
// lucid/kernels/loss.h, kernels/cpu/loss.cc).
//
// Forward launch shape: ONE block of 256 threads, grid-striding over n with a double accumulator
// per thread and a fixed-order reduction, so the loss is deterministic and needs no second pass
// or atomics. TD-MPC2's consistency loss is a few hundred thousand floats at most, which one
// block streams in microseconds; a multi-block version would trade determinism for nothing here.
// Backward: one thread per element.
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/loss.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid::kernels {
namespace {

constexpr int kReduceThreads = 256;
constexpr int kThreads = 256;
constexpr unsigned kMaxBlocks = 65535;

__global__ void mse_forward_kernel(const float* a, const float* b, std::int64_t n, float* out) {
  __shared__ double part[kReduceThreads];
  double s = 0.0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    s += d * d;
  }
  part[threadIdx.x] = s;
  __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) part[threadIdx.x] += part[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = static_cast<float>(part[0] / static_cast<double>(n));
}

__global__ void mse_backward_kernel(const float* a, const float* b, const float* g_dev, float* ga, float* gb,
                                    std::int64_t n) {
  const float k = 2.f * g_dev[0] / static_cast<float>(n);
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const float v = k * (a[i] - b[i]);
    if (ga) ga[i] = v;
    if (gb) gb[i] = -v;
  }
}

}  // namespace

void mse_forward_cuda(const float* a, const float* b, std::int64_t n, float* out, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(n >= 1) << "mse: n=" << n;
  LUCID_NVTX_RANGE("kernels/mse_forward");
  // The tree reduction halves blockDim.x, so the block is a fixed power of two (no override).
  LUCID_LAUNCH(mse_forward_kernel, 1, kReduceThreads, 0, stream, a, b, n, out);
}

void mse_backward_cuda(const float* a, const float* b, const float* g_dev, float* ga, float* gb,
                       std::int64_t n, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(n >= 1) << "mse: n=" << n;
  if (!ga && !gb) return;
  LUCID_NVTX_RANGE("kernels/mse_backward");
  const int threads = cuda::block_threads(kThreads);
  unsigned blocks = cuda::blocks_for(static_cast<std::size_t>(n), static_cast<std::size_t>(threads));
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  LUCID_LAUNCH(mse_backward_kernel, blocks, threads, 0, stream, a, b, g_dev, ga, gb, n);
}

}  // namespace lucid::kernels
