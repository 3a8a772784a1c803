// Strided row copies, row gather / scatter-add and the arg-extremum scatter on the GPU.
// Contract and shapes: lucid/kernels/cuda/copy.h. The CPU side of these is memcpy in the engine's
// shape ops (engine/ops/shape.cc, reduce.cc), which the engine tests compare against.
//
// Launch shape: a 2-D grid, x over the row's width (256 threads), y over rows (grid-stride past
// 65535), so a wide row is read coalesced and a tall thin tensor still fills the GPU.
#include <vector>

#include "lucid/error.h"
#include "lucid/kernels/cuda/copy.h"
#include "lucid/kernels/cuda/device_memory.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid::kernels {
namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxGridY = 65535;

dim3 grid2d(std::int64_t width, std::int64_t rows, int threads) {
  const unsigned gy = rows < kMaxGridY ? static_cast<unsigned>(rows) : kMaxGridY;
  return dim3(cuda::blocks_for(static_cast<std::size_t>(width), static_cast<std::size_t>(threads)), gy);
}

__global__ void copy_rows_kernel(const float* src, std::int64_t src_ld, float* dst, std::int64_t dst_ld,
                                 std::int64_t rows, std::int64_t width) {
  const std::int64_t c = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (c >= width) return;
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y) dst[r * dst_ld + c] = src[r * src_ld + c];
}

__global__ void gather_rows_kernel(const float* x, std::int64_t inner, const std::int64_t* index,
                                   std::int64_t count, float* y) {
  const std::int64_t c = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (c >= inner) return;
  for (std::int64_t i = blockIdx.y; i < count; i += gridDim.y) y[i * inner + c] = x[index[i] * inner + c];
}

__global__ void scatter_add_rows_kernel(const float* g, std::int64_t count, std::int64_t inner,
                                        const std::int64_t* index, float* gx) {
  const std::int64_t c = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (c >= inner) return;
  for (std::int64_t i = blockIdx.y; i < count; i += gridDim.y)
    atomicAdd(gx + index[i] * inner + c, g[i * inner + c]);
}

__global__ void scatter_last_kernel(const float* g, const std::int64_t* arg, float* gx, std::int64_t rows,
                                    std::int64_t cols) {
  const std::int64_t c = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y) gx[r * cols + c] = c == arg[r] ? g[r] : 0.f;
}

// The host index list in device memory for one launch: a block from the caching allocator, filled
// on the stream and handed back right after the launch (later work on the same stream is ordered
// after the kernel, so reuse is safe — DeviceCache's stream contract).
class StagedIndex {
 public:
  StagedIndex(const std::int64_t* index, std::int64_t count, std::int64_t n, const char* op,
              cuda::StreamHandle stream)
      : bytes_(static_cast<std::size_t>(count) * sizeof(std::int64_t)) {
    for (std::int64_t i = 0; i < count; ++i)
      LUCID_CHECK_SHAPE(0 <= index[i] && index[i] < n)
          << op << ": index " << index[i] << " out of [0, " << n << ")";
    p_ = static_cast<std::int64_t*>(cuda::DeviceCache::instance().allocate(bytes_));
    // Pageable source: the copy has consumed `index` when it returns, as cudaMemcpyAsync promises.
    LUCID_CUDA_CHECK(cudaMemcpyAsync(p_, index, bytes_, cudaMemcpyHostToDevice, stream));
  }
  ~StagedIndex() { cuda::DeviceCache::instance().deallocate(p_); }
  StagedIndex(const StagedIndex&) = delete;
  StagedIndex& operator=(const StagedIndex&) = delete;
  const std::int64_t* get() const { return p_; }

 private:
  std::size_t bytes_;
  std::int64_t* p_ = nullptr;
};

}  // namespace

void copy_rows_cuda(const float* src, std::int64_t src_ld, float* dst, std::int64_t dst_ld, std::int64_t rows,
                    std::int64_t width, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(rows >= 0 && width >= 0 && src_ld >= width && dst_ld >= width)
      << "copy_rows: rows=" << rows << " width=" << width << " src_ld=" << src_ld << " dst_ld=" << dst_ld;
  if (rows == 0 || width == 0) return;
  LUCID_NVTX_RANGE("kernels/copy_rows");
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(copy_rows_kernel, grid2d(width, rows, threads), threads, 0, stream, src, src_ld, dst, dst_ld,
               rows, width);
}

void gather_rows_cuda(const float* x, std::int64_t n, std::int64_t inner, const std::int64_t* index,
                      std::int64_t count, float* y, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(n >= 0 && inner >= 0 && count >= 0) << "gather_rows: n=" << n << " inner=" << inner;
  if (count == 0 || inner == 0) return;
  LUCID_NVTX_RANGE("kernels/gather_rows");
  const StagedIndex idx(index, count, n, "gather_rows", stream);
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(gather_rows_kernel, grid2d(inner, count, threads), threads, 0, stream, x, inner, idx.get(),
               count, y);
}

void scatter_add_rows_cuda(const float* g, std::int64_t count, std::int64_t inner, const std::int64_t* index,
                           std::int64_t n, float* gx, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(n >= 0 && inner >= 0 && count >= 0) << "scatter_add_rows: n=" << n << " inner=" << inner;
  if (count == 0 || inner == 0) return;
  LUCID_NVTX_RANGE("kernels/scatter_add_rows");
  const StagedIndex idx(index, count, n, "scatter_add_rows", stream);
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(scatter_add_rows_kernel, grid2d(inner, count, threads), threads, 0, stream, g, count, inner,
               idx.get(), gx);
}

void scatter_last_cuda(const float* g, const std::int64_t* arg, float* gx, std::int64_t rows,
                       std::int64_t cols, cuda::StreamHandle stream) {
  LUCID_CHECK_SHAPE(rows >= 0 && cols >= 1) << "scatter_last: rows=" << rows << " cols=" << cols;
  if (rows == 0) return;
  LUCID_NVTX_RANGE("kernels/scatter_last");
  const int threads = cuda::block_threads(kThreads);
  LUCID_LAUNCH(scatter_last_kernel, grid2d(cols, rows, threads), threads, 0, stream, g, arg, gx, rows, cols);
}

}  // namespace lucid::kernels
