// TD-MPC2 update steps on the GPU. Contract: lucid/kernels/cuda/tdmpc2_update.h; the CPU loops they
// mirror are agents/tdmpc2/tdmpc2_agent.cc's and agents/losses/*.cc's.
//
// Launch shapes: one block per row (consistency), one thread per row (the policy loss rows: A is a
// handful of dims), one thread per element (actions, output gradients), and single-thread kernels
// for the scalar sums, whose serial order is what makes them equal to the CPU's. The sort of the
// running scale is a rank sort in one block (n <= 4096: a few microseconds, once per update).
#include <algorithm>
#include <cmath>

#include "lucid/error.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/runtime.h"
#include "lucid/kernels/cuda/tdmpc2_update.h"

namespace lucid::kernels {
namespace {

constexpr int kRowThreads = 128;
constexpr float kHalfLog2Pi = 0.9189385175704956f;

__global__ void consistency_rows_kernel(const float* z, const float* target, int latent, float scale,
                                        float* dz, double* row_se) {
  __shared__ double partial[kRowThreads];
  const std::int64_t o = std::int64_t{blockIdx.x} * latent;
  double se = 0.0;
  for (int j = static_cast<int>(threadIdx.x); j < latent; j += blockDim.x) {
    const float d = z[o + j] - target[o + j];
    se += static_cast<double>(d) * d;
    dz[o + j] += scale * d;
  }
  partial[threadIdx.x] = se;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (static_cast<int>(threadIdx.x) < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) row_se[blockIdx.x] = partial[0];
}

__global__ void consistency_total_kernel(const double* row_se, std::int64_t rows, int latent, float weight,
                                         float* acc) {
  double total = 0.0;
  for (std::int64_t r = 0; r < rows; ++r) total += row_se[r];
  *acc += weight * static_cast<float>(total / (static_cast<double>(rows) * latent));
}

__global__ void rho_ce_loss_kernel(const float* ce, int horizon, int batch, float rho, float* acc) {
  float loss = 0.f, wt = 1.f;
  for (int t = 0; t < horizon; ++t, wt *= rho) {
    float s = 0.f;
    for (int b = 0; b < batch; ++b) s += ce[t * batch + b];
    loss += wt * s / static_cast<float>(batch);
  }
  *acc += loss / static_cast<float>(horizon);
}

__device__ float percentile_sorted(const float* sorted, int n, float pct) {
  const float pos = pct * static_cast<float>(n - 1) / 100.f;
  const int lo = static_cast<int>(floorf(pos));
  const int hi = lo + 1 < n - 1 ? lo + 1 : n - 1;
  const float w_hi = pos - static_cast<float>(lo);
  return sorted[lo] * (1.f - w_hi) + sorted[hi] * w_hi;
}

__global__ void running_scale_kernel(const float* values, int n, float tau, float* scale) {
  LUCID_DYNAMIC_SHARED(float, smem);  // values n, then sorted n
  float* v = smem;
  float* sorted = smem + n;
  for (int i = static_cast<int>(threadIdx.x); i < n; i += blockDim.x) v[i] = values[i];
  __syncthreads();
  // Rank sort: element i goes after every smaller one and every equal one before it.
  for (int i = static_cast<int>(threadIdx.x); i < n; i += blockDim.x) {
    int rank = 0;
    for (int j = 0; j < n; ++j) rank += v[j] < v[i] || (v[j] == v[i] && j < i);
    sorted[rank] = v[i];
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    const float spread = percentile_sorted(sorted, n, 95.f) - percentile_sorted(sorted, n, 5.f);
    const float s = *scale;
    *scale = s + tau * (fmaxf(spread, 1.f) - s);
  }
}

__device__ __forceinline__ float squashed_log_std(float o, float lo, float hi) {
  return lo + 0.5f * (hi - lo) * (tanhf(o) + 1.f);
}

__global__ void pi_actions_kernel(const float* out, const float* eps, std::int64_t rows, int action_dim,
                                  float lo, float hi, float* action) {
  const std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= rows * action_dim) return;
  const std::int64_t r = i / action_dim;
  const int j = static_cast<int>(i % action_dim);
  const float* o = out + r * 2 * action_dim;
  const float log_std = squashed_log_std(o[action_dim + j], lo, hi);
  action[i] = tanhf(o[j] + eps[i] * expf(log_std));
}

__global__ void pi_loss_rows_kernel(const float* out, const float* eps, const float* action, const float* q,
                                    const float* scale_ptr, int horizon, int batch, int action_dim, float rho,
                                    float entropy_coef, float lo, float hi, float* row_loss,
                                    float* row_entropy, float* g_q, float* da, float* stash) {
  const int r = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const int rows = (horizon + 1) * batch;
  if (r >= rows) return;
  const int t = r / batch;
  float w = 1.f;  // rho^t by repeated products, as the CPU loop
  for (int i = 0; i < t; ++i) w *= rho;
  const float row_w = w / (static_cast<float>(horizon + 1) * batch);
  const float scale = *scale_ptr;
  const int A = action_dim;
  const float* o = out + static_cast<std::int64_t>(r) * 2 * A;
  float lp_gauss = 0.f, correction = 0.f;
  for (int j = 0; j < A; ++j) {
    const std::int64_t i = static_cast<std::int64_t>(r) * A + j;
    const float log_std = squashed_log_std(o[A + j], lo, hi);
    const float e = eps[i];
    lp_gauss += -0.5f * e * e - log_std - kHalfLog2Pi;
    const float a = action[i];
    correction += logf(fmaxf(1.f - a * a, 0.f) + 1e-6f);
  }
  const float lp = lp_gauss - correction;
  const float slp = lp_gauss * static_cast<float>(A);
  const float den = lp + 1e-8f;
  const float se = -lp * (slp / den);
  row_loss[r] = row_w * -(entropy_coef * se + q[r] / scale);
  row_entropy[r] = se;
  const float g_se = -row_w * entropy_coef;
  const float gq = -row_w / scale;
  g_q[r] = 0.5f * gq;
  const float g_lp = g_se * (-slp / den + lp * slp / (den * den));
  const float g_slp = g_se * (-lp / den);
  const float g_lpg = g_lp + g_slp * static_cast<float>(A);
  float* st = stash + static_cast<std::int64_t>(r) * 2 * A;
  for (int j = 0; j < A; ++j) {
    const std::int64_t i = static_cast<std::int64_t>(r) * A + j;
    const float a = action[i];
    const float one_m = 1.f - a * a;
    da[i] = one_m > 0.f ? g_lp * 2.f * a / (one_m + 1e-6f) : 0.f;
    const float log_std = squashed_log_std(o[A + j], lo, hi);
    st[A + j] = -g_lpg;
    st[j] = eps[i] * expf(log_std);
  }
}

__global__ void pi_out_grad_kernel(const float* out, const float* action, const float* da, const float* stash,
                                   std::int64_t rows, int action_dim, float lo, float hi, float* dout) {
  const std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= rows * action_dim) return;
  const int A = action_dim;
  const std::int64_t r = i / A;
  const int j = static_cast<int>(i % A);
  const float a = action[i];
  const float dpre = da[i] * (1.f - a * a);
  const float* st = stash + r * 2 * A;
  const float dlog_std = st[A + j] + dpre * st[j];
  const float th = tanhf(out[r * 2 * A + A + j]);
  dout[r * 2 * A + j] = dpre;
  dout[r * 2 * A + A + j] = dlog_std * 0.5f * (hi - lo) * (1.f - th * th);
}

__global__ void sum_rows_kernel(const float* x, std::int64_t n, float* out) {
  float s = 0.f;
  for (std::int64_t i = 0; i < n; ++i) s += x[i];
  *out = s;
}

__global__ void select_blocks_kernel(const float* src, std::int64_t block, const float* heads, float* dst) {
  const std::int64_t h = static_cast<std::int64_t>(heads[blockIdx.y]);
  const float* s = src + h * block;
  float* d = dst + std::int64_t{blockIdx.y} * block;
  for (std::int64_t j = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; j < block;
       j += std::int64_t{gridDim.x} * blockDim.x)
    d[j] = s[j];
}

}  // namespace

void consistency_rows_cuda(const float* z, const float* target, std::int64_t rows, int latent, float scale,
                           float* dz, double* row_se, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(rows >= 0 && latent >= 1) << "consistency_rows: rows " << rows << ", latent " << latent;
  if (rows == 0) return;
  LUCID_NVTX_RANGE("kernels/consistency_rows");
  int threads = std::min(cuda::block_threads(kRowThreads), kRowThreads);
  while (threads & (threads - 1)) threads &= threads - 1;  // the tree needs a power of two
  LUCID_LAUNCH(consistency_rows_kernel, static_cast<unsigned>(rows), threads, 0, stream, z, target, latent,
               scale, dz, row_se);
}

void consistency_total_cuda(const double* row_se, std::int64_t rows, int latent, float weight, float* acc,
                            cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(rows >= 1 && latent >= 1) << "consistency_total: rows " << rows << ", latent " << latent;
  LUCID_LAUNCH(consistency_total_kernel, 1, 1, 0, stream, row_se, rows, latent, weight, acc);
}

void rho_ce_loss_cuda(const float* ce, int horizon, int batch, float rho, float* acc,
                      cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(horizon >= 1 && batch >= 1) << "rho_ce_loss: horizon " << horizon << ", batch " << batch;
  LUCID_LAUNCH(rho_ce_loss_kernel, 1, 1, 0, stream, ce, horizon, batch, rho, acc);
}

void running_scale_cuda(const float* values, int n, float tau, float* scale, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(n >= 1 && n <= 4096) << "running_scale: n " << n << " outside [1, 4096]";
  LUCID_NVTX_RANGE("kernels/running_scale");
  const int threads = cuda::block_threads(256);
  LUCID_LAUNCH(running_scale_kernel, 1, threads, 2 * static_cast<std::size_t>(n) * sizeof(float), stream,
               values, n, tau, scale);
}

void pi_actions_cuda(const float* out, const float* eps, std::int64_t rows, int action_dim, float log_std_min,
                     float log_std_max, float* action, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(rows >= 0 && action_dim >= 1)
      << "pi_actions: rows " << rows << ", action_dim " << action_dim;
  const std::int64_t n = rows * action_dim;
  if (n == 0) return;
  const int threads = cuda::block_threads(256);
  LUCID_LAUNCH(pi_actions_kernel, cuda::blocks_for(static_cast<std::size_t>(n), threads), threads, 0, stream,
               out, eps, rows, action_dim, log_std_min, log_std_max, action);
}

void pi_loss_rows_cuda(const float* out, const float* eps, const float* action, const float* q,
                       const float* scale, int horizon, int batch, int action_dim, float rho,
                       float entropy_coef, float log_std_min, float log_std_max, float* row_loss,
                       float* row_entropy, float* g_q, float* da, float* stash, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(horizon >= 0 && batch >= 1 && action_dim >= 1)
      << "pi_loss_rows: horizon " << horizon << ", batch " << batch << ", action_dim " << action_dim;
  LUCID_NVTX_RANGE("kernels/pi_loss_rows");
  const std::int64_t rows = std::int64_t{horizon + 1} * batch;
  const int threads = cuda::block_threads(128);
  LUCID_LAUNCH(pi_loss_rows_kernel, cuda::blocks_for(static_cast<std::size_t>(rows), threads), threads, 0,
               stream, out, eps, action, q, scale, horizon, batch, action_dim, rho, entropy_coef, log_std_min,
               log_std_max, row_loss, row_entropy, g_q, da, stash);
}

void pi_out_grad_cuda(const float* out, const float* action, const float* da, const float* stash,
                      std::int64_t rows, int action_dim, float log_std_min, float log_std_max, float* dout,
                      cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(rows >= 0 && action_dim >= 1)
      << "pi_out_grad: rows " << rows << ", action_dim " << action_dim;
  const std::int64_t n = rows * action_dim;
  if (n == 0) return;
  const int threads = cuda::block_threads(256);
  LUCID_LAUNCH(pi_out_grad_kernel, cuda::blocks_for(static_cast<std::size_t>(n), threads), threads, 0, stream,
               out, action, da, stash, rows, action_dim, log_std_min, log_std_max, dout);
}

void sum_rows_cuda(const float* x, std::int64_t n, float* out, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(n >= 0) << "sum_rows: n " << n;
  LUCID_LAUNCH(sum_rows_kernel, 1, 1, 0, stream, x, n, out);
}

void select_blocks_cuda(const float* src, std::int64_t block, const float* heads, int count, float* dst,
                        cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(block >= 0 && count >= 0 && count <= 65535)
      << "select_blocks: block " << block << ", count " << count;
  if (block == 0 || count == 0) return;
  LUCID_NVTX_RANGE("kernels/select_blocks");
  const int threads = cuda::block_threads(256);
  const unsigned gx = std::min<unsigned>(cuda::blocks_for(static_cast<std::size_t>(block), threads), 1024u);
  LUCID_LAUNCH(select_blocks_kernel, dim3(gx, static_cast<unsigned>(count)), threads, 0, stream, src, block,
               heads, dst);
}

}  // namespace lucid::kernels
