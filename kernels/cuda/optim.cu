// Adam over a whole parameter arena in one launch, EMA, and grad-norm clipping on the GPU.
// Contract and shapes: lucid/kernels/cuda/optim.h (CPU twins: lucid/kernels/adam.h, ema.h).
//
// These are bandwidth-bound streams (Adam moves 4 floats in and 3 out per element), so the
// launch shape is a grid-stride loop over a grid sized to keep every SM busy (up to 1024 blocks
// of 256) rather than one thread per element; the per-element math is exactly the CPU loop's.
// The arena step finds an element's group by scanning the (<= 16) group prefix sums held in the
// kernel's parameter space: a few compares per element next to 28 bytes of memory traffic.
// sumsq accumulates in double per thread and per block, then one double atomicAdd per block.
#include <cmath>

#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/optim.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid::kernels {
namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxBlocks = 1024;

unsigned stream_blocks(std::size_t n, int threads) {
  const unsigned b = cuda::blocks_for(n, static_cast<std::size_t>(threads));
  return b < kMaxBlocks ? (b == 0 ? 1 : b) : kMaxBlocks;
}

struct AdamConsts {
  float beta1, beta2, one_m_b1, one_m_b2, eps, inv_sqrt_bc2, inv_bc1;
};

__device__ __forceinline__ void adam_element(float* params, const float* grads, float* m1, float* m2,
                                             std::size_t i, float step_size, const AdamConsts& k) {
  const float g = grads[i];
  const float m = k.beta1 * m1[i] + k.one_m_b1 * g;
  const float v = k.beta2 * m2[i] + k.one_m_b2 * g * g;
  m1[i] = m;
  m2[i] = v;
  params[i] -= step_size * m / (sqrtf(v) * k.inv_sqrt_bc2 + k.eps);
}

__global__ void adam_step_kernel(float* params, const float* grads, float* m1, float* m2, std::size_t n,
                                 float step_size, AdamConsts k) {
  for (std::size_t i = std::size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n;
       i += std::size_t{gridDim.x} * blockDim.x)
    adam_element(params, grads, m1, m2, i, step_size, k);
}

// `total` = sum of group sizes; virtual index j walks the groups back to back.
__global__ void adam_arena_kernel(float* params, const float* grads, float* m1, float* m2, AdamGroups groups,
                                  std::uint64_t total, AdamConsts k) {
  for (std::uint64_t j = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; j < total;
       j += std::uint64_t{gridDim.x} * blockDim.x) {
    int g = 0;
    std::uint64_t start = 0;
    while (j >= start + groups.size[g]) start += groups.size[g++];
    adam_element(params, grads, m1, m2, groups.offset[g] + (j - start), groups.lr[g] * k.inv_bc1, k);
  }
}

// Bias corrections from the device-side step count: computed once per block by thread 0 (fp64
// pow, cast to float as the host does), shared through shared memory.
__global__ void adam_arena_device_kernel(float* params, const float* grads, float* m1, float* m2,
                                         AdamGroups groups, std::uint64_t total, float beta1, float beta2,
                                         float eps, const std::int64_t* step, const float* gate) {
  if (gate && !isfinite(*gate)) return;  // every thread reads the same gate: no barrier skipped unevenly
  __shared__ AdamConsts k;
  if (threadIdx.x == 0) {
    const double t = static_cast<double>(*step);
    const float bc1 = static_cast<float>(1.0 - pow(static_cast<double>(beta1), t));
    const float bc2 = static_cast<float>(1.0 - pow(static_cast<double>(beta2), t));
    k = {beta1, beta2, 1.f - beta1, 1.f - beta2, eps, 1.f / sqrtf(bc2), 1.f / bc1};
  }
  __syncthreads();
  const AdamConsts kc = k;
  for (std::uint64_t j = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; j < total;
       j += std::uint64_t{gridDim.x} * blockDim.x) {
    int g = 0;
    std::uint64_t start = 0;
    while (j >= start + groups.size[g]) start += groups.size[g++];
    adam_element(params, grads, m1, m2, groups.offset[g] + (j - start), groups.lr[g] * kc.inv_bc1, kc);
  }
}

__global__ void step_increment_kernel(std::int64_t* step, const float* gate) {
  if (!gate || isfinite(*gate)) ++*step;
}

__global__ void ema_lerp_kernel(float* target, const float* source, std::size_t n, float tau) {
  for (std::size_t i = std::size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n;
       i += std::size_t{gridDim.x} * blockDim.x)
    target[i] += tau * (source[i] - target[i]);
}

__global__ void sumsq_kernel(const float* x, std::size_t n, double* out) {
  __shared__ double part[1024 / 32];
  double s = 0.0;
  for (std::size_t i = std::size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n;
       i += std::size_t{gridDim.x} * blockDim.x)
    s += static_cast<double>(x[i]) * x[i];
  for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    double t = 0.0;
    for (unsigned w = 0; w < blockDim.x / 32; ++w) t += part[w];
    atomicAdd(out, t);
  }
}

__global__ void scale_kernel(float* x, std::size_t n, float s) {
  for (std::size_t i = std::size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n;
       i += std::size_t{gridDim.x} * blockDim.x)
    x[i] *= s;
}

__global__ void clip_by_norm_kernel(float* x, std::size_t n, const double* sumsq, float max_norm,
                                    float* norm_out) {
  const float norm = static_cast<float>(sqrt(*sumsq));
  if (norm_out && blockIdx.x == 0 && threadIdx.x == 0) *norm_out = norm;
  const float coef = max_norm / (norm + 1e-6f);
  if (!isfinite(norm) || !(coef < 1.f)) return;
  for (std::size_t i = std::size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n;
       i += std::size_t{gridDim.x} * blockDim.x)
    x[i] *= coef;
}

AdamConsts adam_consts(float beta1, float beta2, float eps, float bias_c1, float bias_c2) {
  return {beta1, beta2, 1.f - beta1, 1.f - beta2, eps, 1.f / std::sqrt(bias_c2), 1.f / bias_c1};
}

}  // namespace

void adam_step_cuda(float* params, const float* grads, float* exp_avg, float* exp_avg_sq, std::size_t n,
                    float lr, float beta1, float beta2, float eps, float bias_c1, float bias_c2,
                    cuda::StreamHandle stream) {
  if (n == 0) return;
  LUCID_NVTX_RANGE("kernels/adam_step");
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(adam_step_kernel, stream_blocks(n, threads), threads, 0, stream, params, grads, exp_avg,
               exp_avg_sq, n, lr / bias_c1, adam_consts(beta1, beta2, eps, bias_c1, bias_c2));
}

void adam_arena_step_cuda(float* params, const float* grads, float* exp_avg, float* exp_avg_sq,
                          const AdamGroups& groups, float beta1, float beta2, float eps, float bias_c1,
                          float bias_c2, cuda::StreamHandle stream) {
  LUCID_CHECK(groups.count >= 0 && groups.count <= AdamGroups::kMax)
      << "adam_arena_step_cuda: " << groups.count << " groups, at most " << AdamGroups::kMax;
  std::uint64_t total = 0;
  for (int g = 0; g < groups.count; ++g) total += groups.size[g];
  if (total == 0) return;
  LUCID_NVTX_RANGE("kernels/adam_arena_step");
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(adam_arena_kernel, stream_blocks(total, threads), threads, 0, stream, params, grads, exp_avg,
               exp_avg_sq, groups, total, adam_consts(beta1, beta2, eps, bias_c1, bias_c2));
}

void adam_arena_step_device_cuda(float* params, const float* grads, float* exp_avg, float* exp_avg_sq,
                                 const AdamGroups& groups, float beta1, float beta2, float eps,
                                 const std::int64_t* step, const float* gate, cuda::StreamHandle stream) {
  LUCID_CHECK(groups.count >= 0 && groups.count <= AdamGroups::kMax)
      << "adam_arena_step_device_cuda: " << groups.count << " groups, at most " << AdamGroups::kMax;
  std::uint64_t total = 0;
  for (int g = 0; g < groups.count; ++g) total += groups.size[g];
  if (total == 0) return;
  LUCID_NVTX_RANGE("kernels/adam_arena_step");
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(adam_arena_device_kernel, stream_blocks(total, threads), threads, 0, stream, params, grads,
               exp_avg, exp_avg_sq, groups, total, beta1, beta2, eps, step, gate);
}

void step_increment_cuda(std::int64_t* step, const float* gate, cuda::StreamHandle stream) {
  LUCID_LAUNCH(step_increment_kernel, 1, 1, 0, stream, step, gate);
}

void ema_lerp_cuda(float* target, const float* source, std::size_t n, float tau, cuda::StreamHandle stream) {
  if (n == 0) return;
  LUCID_NVTX_RANGE("kernels/ema_lerp");
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(ema_lerp_kernel, stream_blocks(n, threads), threads, 0, stream, target, source, n, tau);
}

void sumsq_cuda(const float* x, std::size_t n, double* out, cuda::StreamHandle stream) {
  LUCID_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(double), stream));
  if (n == 0) return;
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(sumsq_kernel, stream_blocks(n, threads), threads, 0, stream, x, n, out);
}

void scale_cuda(float* x, std::size_t n, float s, cuda::StreamHandle stream) {
  if (n == 0) return;
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(scale_kernel, stream_blocks(n, threads), threads, 0, stream, x, n, s);
}

void clip_by_norm_cuda(float* x, std::size_t n, const double* sumsq, float max_norm, float* norm_out,
                       cuda::StreamHandle stream) {
  LUCID_CHECK(max_norm > 0.f) << "clip_by_norm_cuda needs max_norm > 0, got " << max_norm;
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(clip_by_norm_kernel, stream_blocks(n, threads), threads, 0, stream, x, n, sumsq, max_norm,
               norm_out);
}

}  // namespace lucid::kernels
