// Dream-MPC's planner steps on the GPU. Contract: lucid/kernels/cuda/dream_mpc.h.
//
// Launch shapes: one thread per candidate entry (warm start, select; a plan is H * N * A = 90
// entries for the paper's defaults, so one small block), and one block per observation for the
// clip-and-ascend, whose norm is a shared-memory tree over the block's threads.
#include <algorithm>
#include <cmath>

#include "lucid/error.h"
#include "lucid/kernels/cuda/dream_mpc.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid::kernels {
namespace {

constexpr int kClipThreads = 128;

__device__ __forceinline__ float clamp_unit(float x) { return fminf(fmaxf(x, -1.f), 1.f); }

__global__ void dream_warm_start_kernel(const float* prior, const float* stored, float* actions, float* init,
                                        int horizon, std::int64_t step, float rho, bool warm) {
  const std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= horizon * step) return;
  const std::int64_t t = i / step, e = i % step;
  const std::int64_t prev_t = t + 1 < horizon ? t + 1 : horizon - 1;
  const float a = warm ? rho * stored[prev_t * step + e] + (1.f - rho) * prior[i] : prior[i];
  actions[i] = a;
  if (init) init[i] = a;
}

__global__ void dream_clip_ascend_kernel(float* grad, float* actions, int horizon, int batch, int candidates,
                                         int action_dim, float max_norm, float step) {
  __shared__ double partial[kClipThreads];
  const int b = static_cast<int>(blockIdx.x);
  const std::int64_t row_floats = std::int64_t{candidates} * action_dim;  // one step of one observation
  const std::int64_t step_floats = std::int64_t{batch} * row_floats;
  const std::int64_t count = horizon * row_floats;
  double sq = 0.0;
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    float* g = grad + (i / row_floats) * step_floats + b * row_floats + i % row_floats;
    if (!isfinite(*g)) *g = 0.f;
    sq += static_cast<double>(*g) * *g;
  }
  partial[threadIdx.x] = sq;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (static_cast<int>(threadIdx.x) < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  const double coef = max_norm / (sqrt(partial[0]) + 1e-6);
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const std::int64_t at = (i / row_floats) * step_floats + b * row_floats + i % row_floats;
    float g = grad[at];
    if (coef < 1.0) g = static_cast<float>(g * coef);
    grad[at] = g;
    actions[at] += step * g;
  }
}

__global__ void dream_select_kernel(const float* value, const float* actions, float* out, float* stored,
                                    int batch, int candidates, int action_dim, std::int64_t count) {
  const std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i < count) stored[i] = clamp_unit(actions[i]);
  if (i >= std::int64_t{batch} * action_dim) return;
  const int b = static_cast<int>(i / action_dim), j = static_cast<int>(i % action_dim);
  int best = 0;
  float best_v = -INFINITY;
  for (int n = 0; n < candidates; ++n) {
    float v = value[b * candidates + n];
    if (isnan(v)) v = 0.f;  // torch.nan_to_num(J, 0) before the argmax
    if (v > best_v) best_v = v, best = n;
  }
  out[i] = clamp_unit(actions[(std::int64_t{b} * candidates + best) * action_dim + j]);
}

}  // namespace

void dream_warm_start_cuda(const float* prior, const float* stored, float* actions, float* init, int horizon,
                           std::int64_t rows, int action_dim, float rho, bool warm,
                           cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(horizon >= 1 && rows >= 0 && action_dim >= 1)
      << "dream_warm_start: horizon " << horizon << ", rows " << rows << ", action_dim " << action_dim;
  const std::int64_t n = horizon * rows * action_dim;
  if (n == 0) return;
  LUCID_NVTX_RANGE("kernels/dream_warm_start");
  const int threads = cuda::block_threads(128);
  LUCID_LAUNCH(dream_warm_start_kernel, cuda::blocks_for(static_cast<std::size_t>(n), threads), threads, 0,
               stream, prior, stored, actions, init, horizon, rows * action_dim, rho, warm);
}

void dream_clip_ascend_cuda(float* grad, float* actions, int horizon, int batch, int candidates,
                            int action_dim, float max_norm, float step, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(horizon >= 1 && batch >= 1 && candidates >= 1 && action_dim >= 1)
      << "dream_clip_ascend: horizon " << horizon << ", batch " << batch << ", candidates " << candidates
      << ", action_dim " << action_dim;
  LUCID_NVTX_RANGE("kernels/dream_clip_ascend");
  // The tree needs a power-of-two block of at most the shared array's size (a test may override
  // the block size with any multiple of 32).
  int threads = std::min(cuda::block_threads(kClipThreads), kClipThreads);
  while (threads & (threads - 1)) threads &= threads - 1;
  LUCID_LAUNCH(dream_clip_ascend_kernel, static_cast<unsigned>(batch), threads, 0, stream, grad, actions,
               horizon, batch, candidates, action_dim, max_norm, step);
}

void dream_select_cuda(const float* value, const float* actions, float* out, float* stored, int horizon,
                       int batch, int candidates, int action_dim, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(horizon >= 1 && batch >= 1 && candidates >= 1 && action_dim >= 1)
      << "dream_select: horizon " << horizon << ", batch " << batch << ", candidates " << candidates
      << ", action_dim " << action_dim;
  const std::int64_t count = std::int64_t{horizon} * batch * candidates * action_dim;
  LUCID_NVTX_RANGE("kernels/dream_select");
  const int threads = cuda::block_threads(128);
  LUCID_LAUNCH(dream_select_kernel, cuda::blocks_for(static_cast<std::size_t>(count), threads), threads, 0,
               stream, value, actions, out, stored, batch, candidates, action_dim, count);
}

}  // namespace lucid::kernels
