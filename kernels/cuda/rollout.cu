// Rollout-objective epilogues of the device action gradient. Contract: lucid/kernels/cuda/rollout.h.
//
// Launch shapes: one thread per element (rollout_accumulate), per row (ensemble_uncertainty and
// head_weighted_accumulate; ensemble_uncertainty: a
// row's H + 1 entries are subtracted in order, as the CPU loop does, so the sum is the CPU's), and
// a 2-D grid over width x rows (accumulate_rows, as copy_rows in copy.cu). Planning batches are a
// handful of rows: what matters is one launch per step, not occupancy.
#include "lucid/error.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/rollout.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid::kernels {
namespace {

constexpr unsigned kMaxGridY = 65535;

__global__ void rollout_accumulate_kernel(float* y, const float* x, float alpha, bool assign,
                                          std::int64_t n) {
  const std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= n) return;
  y[i] = (assign ? 0.f : y[i]) + alpha * x[i];
}

__global__ void ensemble_uncertainty_kernel(const float* values, int members, std::int64_t n,
                                            std::int64_t rows, float coef, float* value) {
  const std::int64_t r = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  float v = value[r];
  for (std::int64_t i = r; i < n; i += rows) {
    float mean = 0.f;
    for (int k = 0; k < members; ++k) mean += values[k * n + i];
    mean /= static_cast<float>(members);
    float var = 0.f;
    for (int k = 0; k < members; ++k) {
      const float d = values[k * n + i] - mean;
      var += d * d;
    }
    const float sd = members > 1 ? sqrtf(var / static_cast<float>(members - 1)) : 0.f;
    v -= coef * mean * sd;
  }
  value[r] = v;
}

__global__ void head_weighted_accumulate_kernel(const float* values, std::int64_t ld, int members,
                                                const float* weight, float scale, float* value,
                                                std::int64_t rows) {
  const std::int64_t r = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  float v = value[r];
  for (int k = 0; k < members; ++k) v += (scale * weight[k]) * values[k * ld + r];
  value[r] = v;
}

__global__ void accumulate_rows_kernel(const float* src, std::int64_t src_ld, float* dst, std::int64_t dst_ld,
                                       std::int64_t rows, std::int64_t width) {
  const std::int64_t c = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (c >= width) return;
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y) dst[r * dst_ld + c] += src[r * src_ld + c];
}

}  // namespace

void rollout_accumulate_cuda(float* y, const float* x, float alpha, bool assign, std::int64_t n,
                             cuda::StreamHandle stream) {
  LUCID_CHECK(n >= 0 && y && x) << "rollout_accumulate: n " << n << " and both pointers are required";
  if (n == 0) return;
  LUCID_NVTX_RANGE("kernels/rollout_accumulate");
  const int threads = cuda::block_threads(256);
  LUCID_LAUNCH(rollout_accumulate_kernel, cuda::blocks_for(static_cast<std::size_t>(n), threads), threads, 0,
               stream, y, x, alpha, assign, n);
}

void ensemble_uncertainty_cuda(const float* values, int members, std::int64_t n, std::int64_t rows,
                               float coef, float* value, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(members >= 1 && rows >= 1 && n >= 0 && n % rows == 0)
      << "ensemble_uncertainty: " << members << " members, n " << n << ", rows " << rows
      << " (n must be a multiple of rows)";
  LUCID_NVTX_RANGE("kernels/ensemble_uncertainty");
  const int threads = cuda::block_threads(128);
  LUCID_LAUNCH(ensemble_uncertainty_kernel, cuda::blocks_for(static_cast<std::size_t>(rows), threads),
               threads, 0, stream, values, members, n, rows, coef, value);
}

void head_weighted_accumulate_cuda(const float* values, std::int64_t ld, int members, const float* weight,
                                   float scale, float* value, std::int64_t rows, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(members >= 1 && rows >= 0 && ld >= rows && weight)
      << "head_weighted_accumulate: " << members << " members, rows " << rows << ", ld " << ld
      << " (ld >= rows and the weights are required)";
  if (rows == 0) return;
  LUCID_NVTX_RANGE("kernels/head_weighted_accumulate");
  const int threads = cuda::block_threads(128);
  LUCID_LAUNCH(head_weighted_accumulate_kernel, cuda::blocks_for(static_cast<std::size_t>(rows), threads),
               threads, 0, stream, values, ld, members, weight, scale, value, rows);
}

void accumulate_rows_cuda(const float* src, std::int64_t src_ld, float* dst, std::int64_t dst_ld,
                          std::int64_t rows, std::int64_t width, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(rows >= 0 && width >= 0 && src_ld >= width && dst_ld >= width)
      << "accumulate_rows: rows " << rows << ", width " << width << ", ld " << src_ld << " / " << dst_ld;
  if (rows == 0 || width == 0) return;
  LUCID_NVTX_RANGE("kernels/accumulate_rows");
  const int threads = cuda::block_threads(256);
  const unsigned gy = rows < kMaxGridY ? static_cast<unsigned>(rows) : kMaxGridY;
  LUCID_LAUNCH(accumulate_rows_kernel, dim3(cuda::blocks_for(static_cast<std::size_t>(width), threads), gy),
               threads, 0, stream, src, src_ld, dst, dst_ld, rows, width);
}

}  // namespace lucid::kernels
