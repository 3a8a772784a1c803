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

// One block per observation. Rank selection: element i's rank is the number of elements that
// sort before it (greater value, or equal value and lower index), so the K elites land in CPU
// order with no sort and no data-dependent barriers; S^2 / threads compares per thread is nothing
// next to the rollout at S = 512. The weights are then formed serially by thread 0 (K <= 64: the
// CPU's summation order exactly), and threads split the H * A refit columns.
__global__ void mppi_elite_refit_kernel(const float* value, const float* actions, float* mean, float* std_dev,
                                        float* elite_out, float* score_out, float* elite_mean, int samples,
                                        int num_elites, int horizon, int a_dim, std::int64_t step_rows,
                                        float temperature, float min_std, float max_std) {
  LUCID_DYNAMIC_SHARED(float, smem);  // elite index (as int) K, then weights K
  int* elite = reinterpret_cast<int*>(smem);
  float* w = smem + num_elites;
  __shared__ float denom_s;
  const int b = static_cast<int>(blockIdx.x);
  const float* v = value + std::int64_t{b} * samples;
  for (int i = static_cast<int>(threadIdx.x); i < samples; i += static_cast<int>(blockDim.x)) {
    const float vi = v[i];
    int rank = 0;
    for (int j = 0; j < samples; ++j) rank += (v[j] > vi || (v[j] == vi && j < i)) ? 1 : 0;
    if (rank < num_elites) elite[rank] = i;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float max_v = -FLT_MAX;
    for (int e = 0; e < num_elites; ++e) max_v = fmaxf(max_v, v[elite[e]]);
    float sum = 0.f;
    for (int e = 0; e < num_elites; ++e) {
      w[e] = expf(temperature * (v[elite[e]] - max_v));
      sum += w[e];
    }
    float m = 0.f, total = 0.f;
    for (int e = 0; e < num_elites; ++e) {
      w[e] /= sum;
      m += v[elite[e]] / static_cast<float>(num_elites);
    }
    for (int e = 0; e < num_elites; ++e) {
      total += w[e];
      elite_out[std::int64_t{b} * num_elites + e] = static_cast<float>(elite[e]);
      score_out[std::int64_t{b} * num_elites + e] = w[e];
    }
    elite_mean[b] = m;
    denom_s = total + 1e-9f;
  }
  __syncthreads();
  const float denom = denom_s;
  for (int c = static_cast<int>(threadIdx.x); c < horizon * a_dim; c += static_cast<int>(blockDim.x)) {
    const int t = c / a_dim, j = c % a_dim;
    const float* act = actions + (std::int64_t{t} * step_rows + std::int64_t{b} * samples) * a_dim + j;
    float m = 0.f;
    for (int e = 0; e < num_elites; ++e) m += w[e] * act[std::int64_t{elite[e]} * a_dim];
    m /= denom;
    float var = 0.f;
    for (int e = 0; e < num_elites; ++e) {
      const float d = act[std::int64_t{elite[e]} * a_dim] - m;
      var += w[e] * d * d;
    }
    const std::int64_t o = (std::int64_t{b} * horizon + t) * a_dim + j;
    mean[o] = m;
    std_dev[o] = fminf(fmaxf(sqrtf(var / denom), min_std), max_std);
  }
}

}  // namespace

void mppi_elite_refit_cuda(const float* value, const float* actions, float* mean, float* std_dev,
                           float* elite, float* score, float* elite_mean, int batch, int samples,
                           int num_elites, int horizon, int action_dim, std::int64_t step_rows,
                           float temperature, float min_std, float max_std, cuda::StreamHandle stream) {
  LUCID_CHECK(batch >= 0 && samples > 0 && num_elites >= 1 && num_elites <= samples && horizon > 0 &&
              action_dim > 0 && step_rows >= std::int64_t{batch} * samples)
      << "mppi_elite_refit: batch " << batch << ", samples " << samples << ", elites " << num_elites
      << ", horizon " << horizon << ", action_dim " << action_dim << ", step_rows " << step_rows;
  if (batch == 0) return;
  LUCID_NVTX_RANGE("kernels/mppi_elite_refit");
  const int threads = cuda::block_threads(256);
  const std::size_t smem = sizeof(float) * 2 * static_cast<std::size_t>(num_elites);
  LUCID_LAUNCH(mppi_elite_refit_kernel, static_cast<unsigned>(batch), threads, smem, stream, value, actions,
               mean, std_dev, elite, score, elite_mean, samples, num_elites, horizon, action_dim, step_rows,
               temperature, min_std, max_std);
}

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
