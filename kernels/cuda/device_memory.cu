// DeviceCache (lucid/kernels/cuda/device_memory.h): a caching allocator on cudaMalloc. Host code
// only; it lives in a .cu so that the native and the emulated backend each get their own copy.
#include "lucid/kernels/cuda/device_memory.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid::cuda {

DeviceCache& DeviceCache::instance() {
  static DeviceCache* cache = new DeviceCache;  // never destroyed: tensors may outlive static destructors
  return *cache;
}

DeviceCache::~DeviceCache() { release_cached(); }

std::size_t DeviceCache::round_size(std::size_t bytes) {
  constexpr std::size_t kSmallStep = 512, kLarge = std::size_t{1} << 20;
  if (bytes == 0) bytes = 1;
  if (bytes <= kLarge) return (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  std::size_t pow2 = kLarge;
  while (pow2 * 2 < bytes) pow2 *= 2;
  const std::size_t step = pow2 / 8;  // 8 steps between pow2 and 2 * pow2
  return (bytes + step - 1) / step * step;
}

void* DeviceCache::allocate(std::size_t bytes) {
  const std::size_t size = round_size(bytes);
  std::lock_guard lock(mu_);
  ++stats_.allocations;
  void* p = nullptr;
  if (auto it = free_.find(size); it != free_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    ++stats_.cache_hits;
    stats_.bytes_cached -= size;
  } else {
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {  // give the cache back and try once more
      cudaGetLastError();
      for (auto& entry : free_)
        for (void* b : entry.second) cudaFree(b);
      free_.clear();
      stats_.bytes_cached = 0;
      err = cudaMalloc(&p, size);
    }
    if (err != cudaSuccess) cudaGetLastError();
    LUCID_CHECK_AS(err == cudaSuccess, CudaError)
        << "cudaMalloc of " << size << " bytes failed: " << cudaGetErrorString(err) << " ("
        << stats_.bytes_in_use << " bytes in use)";
    ++stats_.device_mallocs;
  }
  live_[p] = size;
  stats_.bytes_in_use += size;
  return p;
}

void DeviceCache::deallocate(void* p) {
  if (!p) return;
  std::lock_guard lock(mu_);
  auto it = live_.find(p);
  LUCID_CHECK_AS(it != live_.end(), CudaError) << "DeviceCache::deallocate of a pointer it did not allocate";
  const std::size_t size = it->second;
  live_.erase(it);
  stats_.bytes_in_use -= size;
  stats_.bytes_cached += size;
  free_[size].push_back(p);
}

void DeviceCache::release_cached() {
  std::lock_guard lock(mu_);
  for (auto& entry : free_)
    for (void* b : entry.second) cudaFree(b);
  free_.clear();
  stats_.bytes_cached = 0;
}

DeviceCacheStats DeviceCache::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace lucid::cuda
