// CudaBackend: lucid::Tensor's memory on a CUDA device (see lucid/engine/cuda_device.h).
//
// Memory contract: blocks come from DeviceCache (never cudaMalloc in the steady state). Copies
// that touch the host are synchronous from the caller's view — host memory may be reused as soon
// as copy() returns, and a device-to-host copy is complete when it returns — while device-to-device
// copies and clears stay asynchronous on the compute stream, ordered with the kernels.
//
// use_cuda_device() also registers the engine's launcher table (lucid/engine/cuda_launchers.h):
// this file is the one place in the engine that names `_cuda` symbols, so only binaries linking a
// CUDA backend carry them.
#include "lucid/engine/cuda_device.h"
#include "lucid/engine/cuda_launchers.h"
#include "lucid/engine/memory.h"
#include "lucid/engine/profile.h"
#include "lucid/kernels/cuda/device_memory.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid {
namespace {

class CudaBackend final : public DeviceBackend {
 public:
  void* allocate(std::size_t bytes) override { return cuda::DeviceCache::instance().allocate(bytes); }
  void deallocate(void* p, std::size_t /*bytes*/) override { cuda::DeviceCache::instance().deallocate(p); }

  void copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes) override {
    if (bytes == 0) return;
    const bool d_dev = dst_device == Device::kCuda, s_dev = src_device == Device::kCuda;
    const cudaMemcpyKind kind = d_dev ? (s_dev ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                      : (s_dev ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    cudaStream_t s = cuda_compute_stream();
    LUCID_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, s));
    if (kind != cudaMemcpyDeviceToDevice) LUCID_CUDA_CHECK(cudaStreamSynchronize(s));
  }

  void memset_zero(void* p, std::size_t bytes) override {
    LUCID_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_compute_stream()));
  }
};

const CudaLaunchers* make_launchers() {
  static CudaLaunchers table;
#define LUCID_CUDA_LAUNCHER_SET(name) table.name = &kernels::name##_cuda;
  LUCID_CUDA_LAUNCHER_LIST(LUCID_CUDA_LAUNCHER_SET)
#undef LUCID_CUDA_LAUNCHER_SET
  table.stream = cuda_compute_stream();
  return &table;
}

// NVTX hooks for lucid::ProfileRange: native builds only (nvtx.h decides); the emulator registers
// none, so ranges there cost one branch.
const ProfileHooks* make_profile_hooks() {
#if defined(LUCID_NVTX_ENABLED)
  static const ProfileHooks hooks{[](const char* name) { nvtxRangePushA(name); }, [] { nvtxRangePop(); }};
  return &hooks;
#else
  return nullptr;
#endif
}

}  // namespace

cuda::StreamHandle cuda_compute_stream() {
  static cudaStream_t stream = [] {
    cudaStream_t s = nullptr;
    LUCID_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
  }();
  return stream;
}

void use_cuda_device() {
  static CudaBackend* backend = [] {
    int devices = 0;
    const cudaError_t err = cudaGetDeviceCount(&devices);
    if (err != cudaSuccess) cudaGetLastError();
    LUCID_CHECK_AS(err == cudaSuccess && devices > 0, CudaError)
        << "no usable CUDA device (" << cudaGetErrorString(err) << ")";
    return new CudaBackend;  // never destroyed: tensors may be freed after static destructors run
  }();
  static const CudaLaunchers* launchers = make_launchers();
  set_device_backend(Device::kCuda, backend);
  set_cuda_launchers(launchers);
  set_profile_hooks(make_profile_hooks());
}

}  // namespace lucid
