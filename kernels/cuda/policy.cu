// TD-MPC2 policy-prior epilogue: bias + log_std squash + tanh action. Contract:
// lucid/kernels/cuda/policy.h.
//
// Launch shape: one thread per (row, action dim) element — the work is a handful of flops per
// element and rows x A is small (a planning batch of 512 rows x 6 dims is 3k threads), so the
// only thing that matters is that it is ONE launch after pi's output GEMM, not three.
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/policy.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid::kernels {
namespace {

__global__ void policy_squash_kernel(const float* raw, const float* bias, const float* eps, float* mean,
                                     float* log_std, float* action, std::int64_t rows, int a_dim,
                                     float ls_min, float ls_max) {
  const std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= rows * a_dim) return;
  const std::int64_t r = i / a_dim;
  const int j = static_cast<int>(i % a_dim);
  const float* o = raw + r * 2 * a_dim;
  const float mu = o[j] + bias[j];
  const float ls = ls_min + 0.5f * (ls_max - ls_min) * (tanhf(o[a_dim + j] + bias[a_dim + j]) + 1.f);
  if (mean) mean[i] = mu;
  if (log_std) log_std[i] = ls;
  if (action) action[i] = tanhf(eps ? mu + eps[i] * expf(ls) : mu);
}

// One thread per (row, action dim): writes both halves of that element's g_raw.
__global__ void policy_squash_backward_kernel(const float* raw, const float* bias, const float* eps,
                                              const float* action, const float* g_action, const float* mask,
                                              float* g_raw, std::int64_t rows, int a_dim, float ls_min,
                                              float ls_max) {
  const std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= rows * a_dim) return;
  const std::int64_t r = i / a_dim;
  const int j = static_cast<int>(i % a_dim);
  const float* o = raw + r * 2 * a_dim;
  float* g = g_raw + r * 2 * a_dim;
  const float a = action[i];
  const float du = mask && mask[j] == 0.f ? 0.f : g_action[i] * (1.f - a * a);
  g[j] = du;
  if (!eps) {
    g[a_dim + j] = 0.f;
    return;
  }
  const float dif = ls_max - ls_min;
  const float th = tanhf(o[a_dim + j] + bias[a_dim + j]);
  const float ls = ls_min + 0.5f * dif * (th + 1.f);
  const float eps_std = eps[i] * expf(ls);
  g[a_dim + j] = du * eps_std * 0.5f * dif * (1.f - th * th);
}

}  // namespace

void policy_squash_cuda(const float* raw, const float* bias, const float* eps, float* mean, float* log_std,
                        float* action, std::int64_t rows, int action_dim, float log_std_min,
                        float log_std_max, cuda::StreamHandle stream) {
  LUCID_CHECK(rows >= 0 && action_dim > 0) << "policy_squash: rows " << rows << ", action_dim " << action_dim;
  LUCID_CHECK(raw && bias) << "policy_squash: raw and bias are required";
  const std::int64_t n = rows * action_dim;
  if (n == 0) return;
  LUCID_NVTX_RANGE("kernels/policy_squash");
  const int threads = cuda::block_threads(256);
  LUCID_LAUNCH(policy_squash_kernel, cuda::blocks_for(static_cast<std::size_t>(n), threads), threads, 0,
               stream, raw, bias, eps, mean, log_std, action, rows, action_dim, log_std_min, log_std_max);
}

void policy_squash_backward_cuda(const float* raw, const float* bias, const float* eps, const float* action,
                                 const float* g_action, const float* action_mask, float* g_raw,
                                 std::int64_t rows, int action_dim, float log_std_min, float log_std_max,
                                 cuda::StreamHandle stream) {
  LUCID_CHECK(rows >= 0 && action_dim > 0)
      << "policy_squash_backward: rows " << rows << ", action_dim " << action_dim;
  LUCID_CHECK(raw && bias && action && g_action && g_raw)
      << "policy_squash_backward: raw, bias, action, g_action and g_raw are required";
  const std::int64_t n = rows * action_dim;
  if (n == 0) return;
  LUCID_NVTX_RANGE("kernels/policy_squash_backward");
  const int threads = cuda::block_threads(256);
  LUCID_LAUNCH(policy_squash_backward_kernel, cuda::blocks_for(static_cast<std::size_t>(n), threads), threads,
               0, stream, raw, bias, eps, action, g_action, action_mask, g_raw, rows, action_dim, log_std_min,
               log_std_max);
}

}  // namespace lucid::kernels
