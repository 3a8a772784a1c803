// The one include of every CUDA source in lucid (kernels/cuda/*.cu and the engine's device code):
// it picks the backend and defines the few macros that let one source build two ways.
//
//  * native (nvcc, or g++ with LUCID_WITH_CUDA): the CUDA runtime and cuBLAS headers;
//    LUCID_LAUNCH is a plain <<<grid, block, smem, stream>>> launch followed by the
//    cudaGetLastError check a careful launcher does anyway, so the real build pays nothing.
//  * emulated (LUCID_EMU defined, g++ compiling the .cu as C++): kernels/emu/cuda_emu.h, and
//    LUCID_LAUNCH hands a closure over the copied arguments to lucid::emu::launch.
//
// Errors: LUCID_CUDA_CHECK(call) and LUCID_CUBLAS_CHECK(call) throw lucid::CudaError naming the
// call, the error and file:line.
#pragma once

#include <cstddef>

#include "lucid/error.h"

#if defined(LUCID_EMU)
#include <tuple>

#include "emu/cuda_emu.h"
#else
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif

#define LUCID_CUDA_CHECK(call)                                                \
  do {                                                                        \
    const cudaError_t lucid_cuda_err_ = (call);                               \
    LUCID_CHECK_AS(lucid_cuda_err_ == cudaSuccess, ::lucid::CudaError)        \
        << #call << " returned " << cudaGetErrorName(lucid_cuda_err_) << " (" \
        << cudaGetErrorString(lucid_cuda_err_) << ")";                        \
  } while (0)

#define LUCID_CUBLAS_CHECK(call)                                                  \
  do {                                                                            \
    const cublasStatus_t lucid_cublas_st_ = (call);                               \
    LUCID_CHECK_AS(lucid_cublas_st_ == CUBLAS_STATUS_SUCCESS, ::lucid::CudaError) \
        << #call << " returned " << cublasGetStatusString(lucid_cublas_st_);      \
  } while (0)

// LUCID_LAUNCH(kernel, grid, block, smem_bytes, stream, args...): launch and check the launch.
// `kernel` is a __global__ function or a pointer to one (take the address of a template
// instantiation first: `auto* k = &my_kernel<128>;` — a template-id's commas would split the
// macro arguments).
#if defined(LUCID_EMU)
// The arguments are evaluated once, here, and copied into the closure, as CUDA copies them into
// the launch's parameter buffer; every emulated thread then calls the kernel with those copies.
#define LUCID_LAUNCH(kernel, grid, block, smem, stream, ...)                                                \
  do {                                                                                                      \
    ::lucid::emu::launch(reinterpret_cast<const void*>(kernel), #kernel, (grid), (block), (smem), (stream), \
                         [lucid_k_ = (kernel), lucid_args_ = std::make_tuple(__VA_ARGS__)]() {              \
                           std::apply(lucid_k_, lucid_args_);                                               \
                         });                                                                                \
    LUCID_CUDA_CHECK(cudaGetLastError());                                                                   \
  } while (0)
#else
#define LUCID_LAUNCH(kernel, grid, block, smem, stream, ...)      \
  do {                                                            \
    (kernel)<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__); \
    LUCID_CUDA_CHECK(cudaGetLastError());                         \
  } while (0)
#endif

// LUCID_DYNAMIC_SHARED(type, name); declares the launch's dynamic shared memory as `type* name`
// (CUDA's `extern __shared__ type name[]`), aligned for float4.
#if defined(LUCID_EMU)
#define LUCID_DYNAMIC_SHARED(type, name) type* name = ::lucid::emu::dynamic_shared_as<type>()
#else
#define LUCID_DYNAMIC_SHARED(type, name)                         \
  extern __shared__ __align__(16) unsigned char name##_bytes_[]; \
  type* name = reinterpret_cast<type*>(name##_bytes_)
#endif

namespace lucid::cuda {

// Blocks needed to cover n items with `per_block` items each.
constexpr unsigned blocks_for(std::size_t n, std::size_t per_block) {
  return static_cast<unsigned>((n + per_block - 1) / per_block);
}

}  // namespace lucid::cuda
