// LayerNorm(+Mish) forward and backward, plain and per ensemble member with a fused bias.
// Contract and shapes: lucid/kernels/cuda/layernorm.h (the CPU twin: lucid/kernels/layernorm.h).
//
// Forward launch shape: rows up to 1024 wide get one warp per row (no shared memory, no block
// barrier; a block holds block_threads/32 rows); wider rows get one block per row with a
// shared-memory reduction. Statistics are two-pass (mean, then the centred sum of squares) in
// fp32 over a row held in L1/L2, which keeps them within a few ulps of the CPU's fp64 sums.
// Backward: one warp/block per row for gx (it needs the row sums of dxhat and dxhat*xhat), then
// one column kernel for dbias/dgamma/dbeta: blocks of 32 columns x 8 row-slices, reduced in
// shared memory in a fixed order, so parameter gradients are deterministic (no atomics).
#include "hd/activations.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/layernorm.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/runtime.h"
#include "warp_reduce.cuh"

namespace lucid::kernels {
namespace {

using cuda_detail::block_sum;
using cuda_detail::warp_sum;

constexpr std::int64_t kWarpRowMaxCols = 1024;

// One row's view: where it lives and which ensemble member's parameters it uses.
struct RowParams {
  const float* x;
  const float* bias;  // null when there is none
  const float* gamma;
  const float* beta;
};

__device__ __forceinline__ RowParams row_params(const float* x, const float* bias, const float* gamma,
                                                const float* beta, std::int64_t row,
                                                std::int64_t rows_per_member, std::int64_t cols) {
  const std::int64_t p = (row / rows_per_member) * cols;
  return {x + row * cols, bias ? bias + p : nullptr, gamma + p, beta + p};
}

__device__ __forceinline__ float load_in(const RowParams& r, std::int64_t c) {
  return r.bias ? r.x[c] + r.bias[c] : r.x[c];
}

// kBlockRow: one block per row (reductions through shared memory) instead of one warp per row.
template <bool kBlockRow, bool kMish>
__global__ void layernorm_forward_kernel(const float* x, const float* bias, const float* gamma,
                                         const float* beta, float* y, float* mean, float* rstd,
                                         std::int64_t rows, std::int64_t rows_per_member, std::int64_t cols,
                                         float eps) {
  __shared__ float scratch[32];
  const std::int64_t row =
      kBlockRow ? std::int64_t{blockIdx.x} : std::int64_t{blockIdx.x} * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;  // a whole warp (or block) leaves together
  const int first = kBlockRow ? static_cast<int>(threadIdx.x) : static_cast<int>(threadIdx.x % 32);
  const int step = kBlockRow ? static_cast<int>(blockDim.x) : 32;
  const RowParams r = row_params(x, bias, gamma, beta, row, rows_per_member, cols);
  const float inv_n = 1.f / static_cast<float>(cols);

  float s = 0.f;
  for (std::int64_t c = first; c < cols; c += step) s += load_in(r, c);
  s = kBlockRow ? block_sum(s, scratch) : warp_sum(s);
  const float m = s * inv_n;
  float v = 0.f;
  for (std::int64_t c = first; c < cols; c += step) {
    const float d = load_in(r, c) - m;
    v += d * d;
  }
  v = kBlockRow ? block_sum(v, scratch) : warp_sum(v);
  const float rs = rsqrtf(v * inv_n + eps);
  if (first == 0) {
    mean[row] = m;
    rstd[row] = rs;
  }
  float* yr = y + row * cols;
  for (std::int64_t c = first; c < cols; c += step) {
    const float t = (load_in(r, c) - m) * rs * r.gamma[c] + r.beta[c];
    yr[c] = kMish ? hd::mish(t) : t;
  }
}

// d loss / d (gamma * xhat + beta) at one element.
template <bool kMish>
__device__ __forceinline__ float pre_act_grad(float gy, float xhat, float g, float b) {
  return kMish ? gy * hd::mish_grad(xhat * g + b) : gy;
}

template <bool kBlockRow, bool kMish>
__global__ void layernorm_backward_rows_kernel(const float* x, const float* bias, const float* gamma,
                                               const float* beta, const float* mean, const float* rstd,
                                               const float* gy, float* gx, std::int64_t rows,
                                               std::int64_t rows_per_member, std::int64_t cols) {
  __shared__ float scratch[32];
  const std::int64_t row =
      kBlockRow ? std::int64_t{blockIdx.x} : std::int64_t{blockIdx.x} * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  const int first = kBlockRow ? static_cast<int>(threadIdx.x) : static_cast<int>(threadIdx.x % 32);
  const int step = kBlockRow ? static_cast<int>(blockDim.x) : 32;
  const RowParams r = row_params(x, bias, gamma, beta, row, rows_per_member, cols);
  const float m = mean[row], rs = rstd[row];
  const float* gr = gy + row * cols;

  float sa = 0.f, sb = 0.f;  // sums of dxhat and dxhat * xhat
  for (std::int64_t c = first; c < cols; c += step) {
    const float xhat = (load_in(r, c) - m) * rs;
    const float dxhat = pre_act_grad<kMish>(gr[c], xhat, r.gamma[c], r.beta[c]) * r.gamma[c];
    sa += dxhat;
    sb += dxhat * xhat;
  }
  if (kBlockRow) {
    sa = block_sum(sa, scratch);
    sb = block_sum(sb, scratch);
  } else {
    sa = warp_sum(sa);
    sb = warp_sum(sb);
  }
  const float inv_n = 1.f / static_cast<float>(cols);
  const float a = sa * inv_n, b = sb * inv_n;
  float* gxr = gx + row * cols;
  for (std::int64_t c = first; c < cols; c += step) {
    const float xhat = (load_in(r, c) - m) * rs;
    const float dp = pre_act_grad<kMish>(gr[c], xhat, r.gamma[c], r.beta[c]);
    gxr[c] = rs * (dp * r.gamma[c] - a - xhat * b);
  }
}

constexpr int kColTile = 32;   // columns per block (one warp wide)
constexpr int kRowSlices = 8;  // threads per column, each summing every 8th row

// Column sums over one member's rows: dgamma += sum dp * xhat, dbeta += sum dp, dbias += sum gx.
// Block (32, 8), grid (ceil(cols / 32), members).
template <bool kMish>
__global__ void layernorm_backward_params_kernel(const float* x, const float* bias, const float* gamma,
                                                 const float* beta, const float* mean, const float* rstd,
                                                 const float* gy, const float* gx, float* dbias,
                                                 float* dgamma, float* dbeta, std::int64_t rows_per_member,
                                                 std::int64_t cols) {
  __shared__ float sg[kRowSlices][kColTile + 1];  // +1: no bank conflicts on the column walk
  __shared__ float sb[kRowSlices][kColTile + 1];
  __shared__ float sx[kRowSlices][kColTile + 1];
  const std::int64_t member = blockIdx.y;
  const std::int64_t c = std::int64_t{blockIdx.x} * kColTile + threadIdx.x;
  float acc_g = 0.f, acc_b = 0.f, acc_x = 0.f;
  if (c < cols) {
    const std::int64_t p = member * cols + c;
    const float g = gamma[p], be = beta[p], bi = bias ? bias[p] : 0.f;
    for (std::int64_t r = threadIdx.y; r < rows_per_member; r += kRowSlices) {
      const std::int64_t row = member * rows_per_member + r;
      const std::int64_t i = row * cols + c;
      const float xhat = (x[i] + bi - mean[row]) * rstd[row];
      const float dp = pre_act_grad<kMish>(gy[i], xhat, g, be);
      acc_g += dp * xhat;
      acc_b += dp;
      if (dbias) acc_x += gx[i];
    }
  }
  sg[threadIdx.y][threadIdx.x] = acc_g;
  sb[threadIdx.y][threadIdx.x] = acc_b;
  sx[threadIdx.y][threadIdx.x] = acc_x;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float tg = 0.f, tb = 0.f, tx = 0.f;
    for (int s = 0; s < kRowSlices; ++s)
      tg += sg[s][threadIdx.x], tb += sb[s][threadIdx.x], tx += sx[s][threadIdx.x];
    const std::int64_t p = member * cols + c;
    if (dgamma) dgamma[p] += tg, dbeta[p] += tb;
    if (dbias) dbias[p] += tx;
  }
}

void check_shapes(std::int64_t members, std::int64_t rows, std::int64_t cols) {
  LUCID_CHECK_SHAPE(members >= 1 && rows >= 0 && cols >= 1)
      << "layernorm: members=" << members << " rows=" << rows << " cols=" << cols;
}

// Rows per launch: warp-per-row blocks hold threads/32 rows.
template <bool kMish>
void launch_forward(const float* x, const float* bias, const float* gamma, const float* beta, float* y,
                    float* mean, float* rstd, std::int64_t rows, std::int64_t rows_per_member,
                    std::int64_t cols, float eps, cudaStream_t stream) {
  if (cols <= kWarpRowMaxCols) {
    const int threads = cuda::block_threads(256);
    auto* k = &layernorm_forward_kernel<false, kMish>;
    LUCID_LAUNCH(k, cuda::blocks_for(static_cast<std::size_t>(rows), static_cast<std::size_t>(threads / 32)),
                 threads, 0, stream, x, bias, gamma, beta, y, mean, rstd, rows, rows_per_member, cols, eps);
  } else {
    const int threads = cuda::block_threads(512);
    auto* k = &layernorm_forward_kernel<true, kMish>;
    LUCID_LAUNCH(k, static_cast<unsigned>(rows), threads, 0, stream, x, bias, gamma, beta, y, mean, rstd,
                 rows, rows_per_member, cols, eps);
  }
}

template <bool kMish>
void launch_backward(const float* x, const float* bias, const float* gamma, const float* beta,
                     const float* mean, const float* rstd, const float* gy, float* gx, float* dbias,
                     float* dgamma, float* dbeta, std::int64_t members, std::int64_t rows_per_member,
                     std::int64_t cols, cudaStream_t stream) {
  const std::int64_t rows = members * rows_per_member;
  if (gx) {
    if (cols <= kWarpRowMaxCols) {
      const int threads = cuda::block_threads(256);
      auto* k = &layernorm_backward_rows_kernel<false, kMish>;
      LUCID_LAUNCH(k,
                   cuda::blocks_for(static_cast<std::size_t>(rows), static_cast<std::size_t>(threads / 32)),
                   threads, 0, stream, x, bias, gamma, beta, mean, rstd, gy, gx, rows, rows_per_member, cols);
    } else {
      const int threads = cuda::block_threads(512);
      auto* k = &layernorm_backward_rows_kernel<true, kMish>;
      LUCID_LAUNCH(k, static_cast<unsigned>(rows), threads, 0, stream, x, bias, gamma, beta, mean, rstd, gy,
                   gx, rows, rows_per_member, cols);
    }
  }
  if (dgamma || dbias) {
    auto* k = &layernorm_backward_params_kernel<kMish>;
    const dim3 grid(cuda::blocks_for(static_cast<std::size_t>(cols), kColTile),
                    static_cast<unsigned>(members));
    LUCID_LAUNCH(k, grid, dim3(kColTile, kRowSlices), 0, stream, x, bias, gamma, beta, mean, rstd, gy, gx,
                 dbias, dgamma, dbeta, rows_per_member, cols);
  }
}

}  // namespace

void ensemble_layernorm_forward_cuda(const float* x, const float* bias, const float* gamma, const float* beta,
                                     float* y, float* mean, float* rstd, std::int64_t members,
                                     std::int64_t rows, std::int64_t cols, float eps, bool fuse_mish,
                                     cuda::StreamHandle stream) {
  check_shapes(members, rows, cols);
  if (rows == 0) return;
  LUCID_NVTX_RANGE("kernels/layernorm_forward");
  (fuse_mish ? launch_forward<true> : launch_forward<false>)(x, bias, gamma, beta, y, mean, rstd,
                                                             members * rows, rows, cols, eps, stream);
}

void ensemble_layernorm_backward_cuda(const float* x, const float* bias, const float* gamma,
                                      const float* beta, const float* mean, const float* rstd,
                                      const float* gy, float* gx, float* dbias, float* dgamma, float* dbeta,
                                      std::int64_t members, std::int64_t rows, std::int64_t cols,
                                      bool fuse_mish, cuda::StreamHandle stream) {
  check_shapes(members, rows, cols);
  LUCID_CHECK(!dbias || gx) << "layernorm backward: dbias is the column sum of gx, so gx is needed";
  LUCID_CHECK((dgamma == nullptr) == (dbeta == nullptr))
      << "layernorm backward: dgamma and dbeta come together";
  if (rows == 0) return;
  LUCID_NVTX_RANGE("kernels/layernorm_backward");
  (fuse_mish ? launch_backward<true> : launch_backward<false>)(x, bias, gamma, beta, mean, rstd, gy, gx,
                                                               dbias, dgamma, dbeta, members, rows, cols,
                                                               stream);
}

void layernorm_forward_cuda(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                            float* rstd, std::int64_t rows, std::int64_t cols, float eps, bool fuse_mish,
                            cuda::StreamHandle stream) {
  ensemble_layernorm_forward_cuda(x, nullptr, gamma, beta, y, mean, rstd, 1, rows, cols, eps, fuse_mish,
                                  stream);
}

void layernorm_backward_cuda(const float* x, const float* gamma, const float* beta, const float* mean,
                             const float* rstd, const float* gy, float* gx, float* dgamma, float* dbeta,
                             std::int64_t rows, std::int64_t cols, bool fuse_mish,
                             cuda::StreamHandle stream) {
  ensemble_layernorm_backward_cuda(x, nullptr, gamma, beta, mean, rstd, gy, gx, nullptr, dgamma, dbeta, 1,
                                   rows, cols, fuse_mish, stream);
}

}  // namespace lucid::kernels
