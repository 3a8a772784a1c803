// DeviceCache: the caching device allocator behind CUDA tensors (kernels/cuda/device_memory.cu).
//
// cudaMalloc/cudaFree synchronise the device and cost tens of microseconds, so the steady state
// of a training step or a planning call must not call them. Freed blocks are kept in per-size
// free lists and handed out again; sizes are rounded (512-byte steps below 1 MiB, then 8 steps
// per power of two) so slightly different shapes share blocks with under 12.5% waste.
// When cudaMalloc runs out of memory the cache is released and the allocation retried once.
//
// Stream contract: lucid issues all device work on one compute stream, and a block freed by the
// host is only reused by work enqueued later on that stream, which the stream orders after every
// earlier use. Work on a second stream must not use cached blocks without an event (not needed
// yet, so not implemented). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace lucid::cuda {

struct DeviceCacheStats {
  std::uint64_t allocations = 0;     // requests served
  std::uint64_t cache_hits = 0;      // of those, served from the free lists
  std::uint64_t device_mallocs = 0;  // cudaMalloc calls made
  std::size_t bytes_in_use = 0;      // rounded sizes of live blocks
  std::size_t bytes_cached = 0;      // freed blocks kept for reuse
};

class DeviceCache {
 public:
  static DeviceCache& instance();
  DeviceCache() = default;
  ~DeviceCache();
  DeviceCache(const DeviceCache&) = delete;
  DeviceCache& operator=(const DeviceCache&) = delete;

  void* allocate(std::size_t bytes);  // throws lucid::CudaError when the device is out of memory
  void deallocate(void* p);           // p from allocate(); nullptr is ignored
  void release_cached();              // cudaFree every cached block
  DeviceCacheStats stats() const;
  static std::size_t round_size(std::size_t bytes);

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;  // rounded size -> blocks
  std::unordered_map<void*, std::size_t> live_;               // block -> rounded size
  DeviceCacheStats stats_;
};

}  // namespace lucid::cuda
