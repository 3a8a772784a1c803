// The CUDA emulator's language layer: what kernels/cuda/*.cu needs so that g++ compiles it as
// host C++ and the emulator runtime (runtime.cc) runs each grid block by block, every CUDA
// thread a fiber.
//
// Included (through lucid/kernels/cuda/runtime.h) only by translation units built with
// LUCID_EMU defined; the native build never sees this file.
//
// What it provides, and how each behaves:
//  * __global__/__device__/__host__/__forceinline__/__launch_bounds__: erased.
//  * __shared__ = `static thread_local`: one copy per kernel instantiation per OS thread, so all
//    fibers of the block running on that thread share it, as on a GPU. Blocks run one after the
//    other, so a block sees what the previous block left (a GPU gives no guarantee either).
//    Dynamic shared memory is declared with LUCID_DYNAMIC_SHARED(type, name) (see runtime.h);
//    the emulator poisons it with NaN bytes at each block start.
//  * threadIdx/blockIdx/blockDim/gridDim: per-OS-thread globals that the scheduler sets before
//    it resumes a fiber; __syncthreads, __syncwarp and every shuffle/vote are rendezvous points
//    at which the fiber yields back to the scheduler.
//  * atomics: plain read-modify-write; fibers only switch at rendezvous points, so an atomic
//    can never be interleaved (the ordering between threads is what random order varies).
//  * math intrinsics: the fast-math ones map to the accurate libm function (a kernel that is
//    right on a GPU with __expf is right here within float rounding).
//  * the CUDA runtime and cuBLAS calls the launchers and the engine use, with CUDA's names and
//    error codes, backed by host memory tagged as device (declared at the end of this file).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <type_traits>

// ---- keywords -------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __shared__ static thread_local
#define __constant__ static
#define __align__(n) alignas(n)

// ---- built-in vector types and indices ------------------------------------------------------
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;
constexpr int warpSize = 32;

namespace lucid::emu {

// ---- scheduler hooks (runtime.cc) -----------------------------------------------------------
void block_barrier();  // __syncthreads: every live thread of the block arrives
void warp_barrier();   // __syncwarp: every live thread of the current warp arrives
int current_lane();
int current_warp_size();      // live lanes in the current warp (the last warp of a block may be short)
std::uint64_t* warp_slots();  // 32 exchange slots of the current warp
void* dynamic_shared();       // this launch's dynamic shared memory

// A warp rendezvous: every lane publishes 8 bytes, then all read, then nobody writes again until
// all have read (the second barrier), which is what makes back-to-back shuffles safe.
template <typename T>
T warp_exchange(T v, int src_lane) {
  static_assert(sizeof(T) <= sizeof(std::uint64_t) && std::is_trivially_copyable_v<T>);
  std::uint64_t* slots = warp_slots();
  const int lane = current_lane();
  std::uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  slots[lane] = bits;
  warp_barrier();
  T out = v;
  if (src_lane >= 0 && src_lane < current_warp_size()) std::memcpy(&out, &slots[src_lane], sizeof(T));
  warp_barrier();
  return out;
}

template <typename T>
T* dynamic_shared_as() {
  return static_cast<T*>(dynamic_shared());
}

}  // namespace lucid::emu

// ---- barriers, shuffles, votes --------------------------------------------------------------
inline void __syncthreads() { lucid::emu::block_barrier(); }
inline void __syncwarp(unsigned /*mask*/ = 0xffffffffu) { lucid::emu::warp_barrier(); }
inline void __threadfence() {}
inline void __threadfence_block() {}

template <typename T>
T __shfl_sync(unsigned /*mask*/, T v, int src, int width = warpSize) {
  const int lane = lucid::emu::current_lane();
  const int base = lane & ~(width - 1);
  return lucid::emu::warp_exchange(v, base + (src & (width - 1)));
}
template <typename T>
T __shfl_xor_sync(unsigned /*mask*/, T v, int lane_mask, int width = warpSize) {
  const int lane = lucid::emu::current_lane();
  const int src = lane ^ lane_mask;
  // CUDA: a source outside the caller's width-segment returns the caller's own value.
  const bool inside = (src & ~(width - 1)) == (lane & ~(width - 1));
  return lucid::emu::warp_exchange(v, inside ? src : lane);
}
template <typename T>
T __shfl_down_sync(unsigned /*mask*/, T v, unsigned delta, int width = warpSize) {
  const int lane = lucid::emu::current_lane();
  const int src = lane + static_cast<int>(delta);
  const bool inside = (src & ~(width - 1)) == (lane & ~(width - 1));
  return lucid::emu::warp_exchange(v, inside ? src : lane);
}
template <typename T>
T __shfl_up_sync(unsigned /*mask*/, T v, unsigned delta, int width = warpSize) {
  const int lane = lucid::emu::current_lane();
  const int src = lane - static_cast<int>(delta);
  const bool inside = src >= (lane & ~(width - 1));
  return lucid::emu::warp_exchange(v, inside ? src : lane);
}
unsigned __ballot_sync(unsigned mask, int predicate);
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
int __all_sync(unsigned mask, int predicate);
inline unsigned __activemask() { return 0xffffffffu; }

// ---- atomics (no fiber switch can happen inside one) ----------------------------------------
template <typename T>
T atomicAdd(T* address, T val) {
  const T old = *address;
  *address = old + val;
  return old;
}
template <typename T>
T atomicSub(T* address, T val) {
  const T old = *address;
  *address = old - val;
  return old;
}
template <typename T>
T atomicMax(T* address, T val) {
  const T old = *address;
  *address = old < val ? val : old;
  return old;
}
template <typename T>
T atomicMin(T* address, T val) {
  const T old = *address;
  *address = val < old ? val : old;
  return old;
}
template <typename T>
T atomicExch(T* address, T val) {
  const T old = *address;
  *address = val;
  return old;
}
template <typename T>
T atomicCAS(T* address, T compare, T val) {
  const T old = *address;
  if (old == compare) *address = val;
  return old;
}

// ---- math intrinsics ------------------------------------------------------------------------
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanhf(float x) { return std::tanh(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline int __float_as_int(float x) {
  int i;
  std::memcpy(&i, &x, sizeof i);
  return i;
}
inline unsigned __float_as_uint(float x) {
  unsigned i;
  std::memcpy(&i, &x, sizeof i);
  return i;
}
inline float __int_as_float(int i) {
  float x;
  std::memcpy(&x, &i, sizeof x);
  return x;
}
inline float __uint_as_float(unsigned i) {
  float x;
  std::memcpy(&x, &i, sizeof x);
  return x;
}
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<std::uint64_t>(a) * b) >> 32);
}
template <typename T>
T __ldg(const T* p) {
  return *p;
}
// CUDA's device math names the classification functions unqualified.
using std::isfinite;
using std::isinf;
using std::isnan;

// ---- CUDA runtime API subset (runtime.cc) ---------------------------------------------------
enum cudaError_t : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorLaunchFailure = 719,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
};
using cudaError = cudaError_t;
enum cudaMemcpyKind : int {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaStreamCaptureMode : int {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};
enum cudaStreamCaptureStatus : int {
  cudaStreamCaptureStatusNone = 0,
  cudaStreamCaptureStatusActive = 1,
  cudaStreamCaptureStatusInvalidated = 2,
};
enum cudaFuncAttribute : int { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

// The emulated stream is CUDA's own opaque type name, so a launcher's signature (and its mangled
// name) is the same in the native and the emulated build: code that only calls launchers compiles
// once and links either backend.
struct CUstream_st;
namespace lucid::emu {
struct Event;
struct Graph;
struct GraphExec;
}  // namespace lucid::emu
using cudaStream_t = CUstream_st*;
using cudaEvent_t = lucid::emu::Event*;
using cudaGraph_t = lucid::emu::Graph*;
using cudaGraphExec_t = lucid::emu::GraphExec*;
constexpr unsigned cudaStreamNonBlocking = 1;

const char* cudaGetErrorString(cudaError_t e);
const char* cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaMalloc(void** ptr, std::size_t bytes);
template <typename T>
cudaError_t cudaMalloc(T** ptr, std::size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* dst, int value, std::size_t bytes);
cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value);
template <typename F>
cudaError_t cudaFuncSetAttribute(F* func, cudaFuncAttribute attr, int value) {
  return cudaFuncSetAttribute(reinterpret_cast<const void*>(func), attr, value);
}

// ---- cuBLAS subset, mapped to lucid::kernels::gemm_cpu --------------------------------------
enum cublasStatus_t : int {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
};
enum cublasOperation_t : int { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
namespace lucid::emu {
struct Blas;
}
using cublasHandle_t = lucid::emu::Blas*;
cublasStatus_t cublasCreate(cublasHandle_t* handle);
cublasStatus_t cublasDestroy(cublasHandle_t handle);
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream);
const char* cublasGetStatusString(cublasStatus_t s);
// Column-major, as cuBLAS: C(m x n) = alpha * op(A) * op(B) + beta * C; alpha/beta host pointers.
cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
                           int n, int k, const float* alpha, const float* a, int lda, const float* b, int ldb,
                           const float* beta, float* c, int ldc);
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k, const float* alpha,
                                         const float* a, int lda, long long stride_a, const float* b, int ldb,
                                         long long stride_b, const float* beta, float* c, int ldc,
                                         long long stride_c, int batch);

// ---- emulator-only API: launching, scheduling options, counters -----------------------------
namespace lucid::emu {

// Runs `body` (one CUDA thread's view of the kernel) for every thread of the grid; under graph
// capture on `stream` it records the launch instead. Called by LUCID_LAUNCH.
void launch(const void* kernel, const char* name, dim3 grid, dim3 block, std::size_t dynamic_smem,
            cudaStream_t stream, std::function<void()> body);

// Fibers resume in a random order (seeded) at every rendezvous, instead of in thread order, to
// expose missing barriers. Also turned on by the environment variable LUCID_EMU_RANDOM_ORDER=<seed>.
void set_random_order(bool on, std::uint64_t seed = 0x5eed);
bool random_order();

struct Counters {
  std::uint64_t kernel_launches = 0;        // kernels launched directly (cuBLAS calls count as one each)
  std::uint64_t graph_launches = 0;         // cudaGraphLaunch calls
  std::uint64_t graph_kernel_launches = 0;  // kernels run while replaying graphs
};
Counters counters(cudaStream_t stream);  // one stream (nullptr: the legacy default stream)
Counters total_counters();               // every stream, destroyed ones included
void reset_counters();

bool is_device_pointer(const void* p, std::size_t bytes = 1);  // inside one live cudaMalloc block
std::size_t live_device_bytes();

}  // namespace lucid::emu
