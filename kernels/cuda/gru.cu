// Fused GRU gate kernels, both forms, on the GPU. Contract: lucid/kernels/cuda/gru.h; per-unit
// math: kernels/hd/gru.h (the very functions the CPU loop calls).
//
// Launch shape: one thread per (row, hidden unit); the thread reads its unit's three gate
// pre-activations from each input (coalesced across the unit index) and writes one output, so the
// whole cell after the GEMMs is one memory pass.
#include "hd/gru.h"
#include "lucid/kernels/cuda/gru.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void gru_torch_forward_kernel(const float* gi, const float* gh, const float* h, float* h_new,
                                         std::int64_t batch, std::int64_t H) {
  const std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= batch * H) return;
  const std::int64_t b = i / H, k = i % H;
  const float* x = gi + b * 3 * H;
  const float* r = gh + b * 3 * H;
  h_new[i] = hd::gru_torch_forward(x[k], x[H + k], x[2 * H + k], r[k], r[H + k], r[2 * H + k], h[i]);
}

__global__ void gru_torch_backward_kernel(const float* gi, const float* gh, const float* h,
                                          const float* g_new, float* g_gi, float* g_gh, float* g_h,
                                          std::int64_t batch, std::int64_t H) {
  const std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= batch * H) return;
  const std::int64_t b = i / H, k = i % H, row = b * 3 * H;
  const float* x = gi + row;
  const float* r = gh + row;
  const hd::GruTorchGrads d =
      hd::gru_torch_backward(x[k], x[H + k], x[2 * H + k], r[k], r[H + k], r[2 * H + k], h[i], g_new[i]);
  if (g_gi) g_gi[row + k] = d.d_r, g_gi[row + H + k] = d.d_z, g_gi[row + 2 * H + k] = d.d_gi_n;
  if (g_gh) g_gh[row + k] = d.d_r, g_gh[row + H + k] = d.d_z, g_gh[row + 2 * H + k] = d.d_gh_n;
  if (g_h) g_h[i] = d.d_h;
}

__global__ void gru_ln_forward_kernel(const float* p, const float* h, float* h_new, std::int64_t batch,
                                      std::int64_t H) {
  const std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= batch * H) return;
  const std::int64_t b = i / H, k = i % H;
  const float* q = p + b * 3 * H;
  h_new[i] = hd::gru_ln_forward(q[k], q[H + k], q[2 * H + k], h[i]);
}

__global__ void gru_ln_backward_kernel(const float* p, const float* h, const float* g_new, float* g_p,
                                       float* g_h, std::int64_t batch, std::int64_t H) {
  const std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= batch * H) return;
  const std::int64_t b = i / H, k = i % H, row = b * 3 * H;
  const float* q = p + row;
  const hd::GruLnGrads d = hd::gru_ln_backward(q[k], q[H + k], q[2 * H + k], h[i], g_new[i]);
  if (g_p) g_p[row + k] = d.d_reset, g_p[row + H + k] = d.d_cand, g_p[row + 2 * H + k] = d.d_update;
  if (g_h) g_h[i] = d.d_h;
}

unsigned grid_for(std::int64_t batch, std::int64_t hidden, int threads) {
  LUCID_CHECK_SHAPE(batch >= 0 && hidden >= 1) << "gru: batch=" << batch << " hidden=" << hidden;
  return cuda::blocks_for(static_cast<std::size_t>(batch * hidden), static_cast<std::size_t>(threads));
}

}  // namespace

void gru_torch_forward_cuda(const float* gi, const float* gh, const float* h, float* h_new,
                            std::int64_t batch, std::int64_t hidden, cuda::StreamHandle stream) {
  const int threads = cuda::block_threads(kThreads);
  const unsigned grid = grid_for(batch, hidden, threads);
  if (grid == 0) return;
  LUCID_NVTX_RANGE("kernels/gru_forward");
  LUCID_LAUNCH(gru_torch_forward_kernel, grid, threads, 0, stream, gi, gh, h, h_new, batch, hidden);
}

void gru_torch_backward_cuda(const float* gi, const float* gh, const float* h, const float* g_new,
                             float* g_gi, float* g_gh, float* g_h, std::int64_t batch, std::int64_t hidden,
                             cuda::StreamHandle stream) {
  const int threads = cuda::block_threads(kThreads);
  const unsigned grid = grid_for(batch, hidden, threads);
  if (grid == 0) return;
  LUCID_NVTX_RANGE("kernels/gru_backward");
  LUCID_LAUNCH(gru_torch_backward_kernel, grid, threads, 0, stream, gi, gh, h, g_new, g_gi, g_gh, g_h, batch,
               hidden);
}

void gru_ln_forward_cuda(const float* p, const float* h, float* h_new, std::int64_t batch,
                         std::int64_t hidden, cuda::StreamHandle stream) {
  const int threads = cuda::block_threads(kThreads);
  const unsigned grid = grid_for(batch, hidden, threads);
  if (grid == 0) return;
  LUCID_NVTX_RANGE("kernels/gru_forward");
  LUCID_LAUNCH(gru_ln_forward_kernel, grid, threads, 0, stream, p, h, h_new, batch, hidden);
}

void gru_ln_backward_cuda(const float* p, const float* h, const float* g_new, float* g_p, float* g_h,
                          std::int64_t batch, std::int64_t hidden, cuda::StreamHandle stream) {
  const int threads = cuda::block_threads(kThreads);
  const unsigned grid = grid_for(batch, hidden, threads);
  if (grid == 0) return;
  LUCID_NVTX_RANGE("kernels/gru_backward");
  LUCID_LAUNCH(gru_ln_backward_kernel, grid, threads, 0, stream, p, h, g_new, g_p, g_h, batch, hidden);
}

}  // namespace lucid::kernels
