// MPPI's elementwise steps: Gaussian action sampling with the clamp, and the discounted value
// accumulation. Contract: lucid/kernels/cuda/mppi.h.
//
// Launch shape: one thread per output element (a sampled action entry, a row's value); both are
// memory-light and tiny, and exist so that an MPPI iteration is a chain of launches with no host
// round trip between the noise draw and the terminal value.
#include <cfloat>

#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/mppi.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid::kernels {
namespace {

__global__ void mppi_sample_kernel(const float* mean, const float* std_dev, const float* noise,
                                   float* actions, int batch, int samples, int pi_trajs, int horizon,
                                   int a_dim, std::int64_t step_rows) {
  const std::int64_t k = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  const int drawn = samples - pi_trajs;
  const std::int64_t n = std::int64_t{horizon} * batch * drawn * a_dim;
  if (k >= n) return;
  // k = ((t * B + b) * drawn + (s - P)) * A + j, the CPU loop order.
  const int j = static_cast<int>(k % a_dim);
  std::int64_t rest = k / a_dim;
  const int s = pi_trajs + static_cast<int>(rest % drawn);
  rest /= drawn;
  const int b = static_cast<int>(rest % batch);
  const int t = static_cast<int>(rest / batch);
  const std::int64_t ms = (std::int64_t{b} * horizon + t) * a_dim + j;
  const float a = mean[ms] + std_dev[ms] * noise[k];
  actions[(std::int64_t{t} * step_rows + std::int64_t{b} * samples + s) * a_dim + j] =
      fminf(fmaxf(a, -1.f), 1.f);
}

__global__ void mppi_accumulate_kernel(float* value, const float* x, std::int64_t n, float scale,
                                       MppiAccumulate mode) {
  const std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (mode == MppiAccumulate::kAssign) {
    value[i] = scale * x[i];
    return;
  }
  float v = value[i] + scale * x[i];
  if (mode == MppiAccumulate::kAddNanToNum) {
    if (isnan(v))
      v = 0.f;
    else if (isinf(v))
      v = v > 0.f ? FLT_MAX : -FLT_MAX;
  }
  value[i] = v;
}

}  // namespace

void mppi_sample_actions_cuda(const float* mean, const float* std_dev, const float* noise, float* actions,
                              int batch, int samples, int pi_trajs, int horizon, int action_dim,
                              std::int64_t step_rows, cuda::StreamHandle stream) {
  LUCID_CHECK(batch >= 0 && samples > pi_trajs && pi_trajs >= 0 && horizon > 0 && action_dim > 0 &&
              step_rows >= std::int64_t{batch} * samples)
      << "mppi_sample_actions: batch " << batch << ", samples " << samples << ", pi_trajs " << pi_trajs
      << ", horizon " << horizon << ", action_dim " << action_dim << ", step_rows " << step_rows;
  const std::int64_t n = std::int64_t{horizon} * batch * (samples - pi_trajs) * action_dim;
  if (n == 0) return;
  LUCID_NVTX_RANGE("kernels/mppi_sample_actions");
  const int threads = cuda::block_threads(256);
  LUCID_LAUNCH(mppi_sample_kernel, cuda::blocks_for(static_cast<std::size_t>(n), threads), threads, 0, stream,
               mean, std_dev, noise, actions, batch, samples, pi_trajs, horizon, action_dim, step_rows);
}

void mppi_accumulate_cuda(float* value, const float* x, std::int64_t n, float scale, MppiAccumulate mode,
                          cuda::StreamHandle stream) {
  LUCID_CHECK(n >= 0) << "mppi_accumulate: n " << n;
  if (n == 0) return;
  LUCID_NVTX_RANGE("kernels/mppi_accumulate");
  const int threads = cuda::block_threads(256);
  LUCID_LAUNCH(mppi_accumulate_kernel, cuda::blocks_for(static_cast<std::size_t>(n), threads), threads, 0,
               stream, value, x, n, scale, mode);
}

}  // namespace lucid::kernels
