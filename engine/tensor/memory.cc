// The CPU caching pool, the device-backend registry and the per-step arena (see memory.h).
#include "lucid/engine/memory.h"

#include <cstdlib>
#include <cstring>

#include "lucid/error.h"

namespace lucid {
namespace {

// Stands in for a device whose backend is not linked in: every call names what is missing.
class MissingBackend final : public DeviceBackend {
 public:
  void* allocate(std::size_t) override { LUCID_FAIL(Error) << "CUDA backend not built"; }
  void deallocate(void*, std::size_t) override {}
  void copy(void*, Device, const void*, Device, std::size_t) override {
    LUCID_FAIL(Error) << "CUDA backend not built";
  }
  void memset_zero(void*, std::size_t) override { LUCID_FAIL(Error) << "CUDA backend not built"; }
};

MissingBackend g_missing;
DeviceBackend* g_cuda_backend = nullptr;
thread_local Arena* t_arena = nullptr;

}  // namespace

const char* device_name(Device d) { return d == Device::kCpu ? "cpu" : "cuda"; }

DeviceBackend& device_backend(Device d) {
  if (d == Device::kCpu) return CpuPool::instance();
  return g_cuda_backend ? *g_cuda_backend : g_missing;
}

void set_device_backend(Device d, DeviceBackend* backend) {
  LUCID_CHECK(d == Device::kCuda) << "the CPU backend is built in and cannot be replaced";
  g_cuda_backend = backend;
}

// ---- CpuPool ----
CpuPool& CpuPool::instance() {
  // Never destroyed: tensors held by static objects may be freed after main returns.
  static CpuPool* pool = new CpuPool();
  return *pool;
}

CpuPool::~CpuPool() { release_cached(); }

std::size_t CpuPool::round_size(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= 4096) return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  // 8 size classes per power of two.
  std::size_t p = 4096;
  while (p * 2 < bytes) p *= 2;
  const std::size_t step = p / 8;
  return (bytes + step - 1) / step * step;
}

void* CpuPool::allocate(std::size_t bytes) {
  const std::size_t size = round_size(bytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.allocations;
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      ++stats_.cache_hits;
      stats_.bytes_cached -= size;
      stats_.bytes_in_use += size;
      return p;
    }
    stats_.bytes_in_use += size;
  }
  void* p = std::aligned_alloc(kAlignment, size);
  LUCID_CHECK(p != nullptr) << "out of host memory allocating " << size << " bytes";
  return p;
}

void CpuPool::deallocate(void* p, std::size_t bytes) {
  if (!p) return;
  const std::size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  free_[size].push_back(p);
  stats_.bytes_in_use -= size;
  stats_.bytes_cached += size;
}

void CpuPool::copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes) {
  LUCID_CHECK(dst_device == Device::kCpu && src_device == Device::kCpu) << "CUDA backend not built";
  if (bytes) std::memcpy(dst, src, bytes);
}

void CpuPool::memset_zero(void* p, std::size_t bytes) {
  if (bytes) std::memset(p, 0, bytes);
}

CpuPoolStats CpuPool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CpuPool::release_cached() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [size, blocks] : free_)
    for (void* p : blocks) std::free(p);
  free_.clear();
  stats_.bytes_cached = 0;
}

// ---- Arena ----
Arena::Arena(std::size_t capacity_bytes) : capacity_(CpuPool::round_size(capacity_bytes)) {
  base_ = static_cast<std::byte*>(std::aligned_alloc(CpuPool::kAlignment, capacity_));
  LUCID_CHECK(base_ != nullptr) << "out of host memory allocating an arena of " << capacity_ << " bytes";
}

Arena::~Arena() { std::free(base_); }

void* Arena::allocate(std::size_t bytes) {
  const std::size_t size = (bytes + CpuPool::kAlignment - 1) / CpuPool::kAlignment * CpuPool::kAlignment;
  if (used_ + size > capacity_) return nullptr;
  void* p = base_ + used_;
  used_ += size;
  if (used_ > high_water_) high_water_ = used_;
  ++live_;
  return p;
}

void Arena::release(void*) { --live_; }

void Arena::reset() {
  LUCID_CHECK(live_ == 0) << live_ << " tensors allocated from this arena are still alive at reset()";
  used_ = 0;
}

ArenaScope::ArenaScope(Arena& arena) : prev_(t_arena) { t_arena = &arena; }
ArenaScope::~ArenaScope() { t_arena = prev_; }
Arena* ArenaScope::current() { return t_arena; }

// ---- Storage ----
Storage::Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device == Device::kCpu && t_arena) {
    data_ = t_arena->allocate(bytes);
    if (data_) {
      arena_ = t_arena;
      return;
    }
  }
  data_ = device_backend(device).allocate(bytes);
}

Storage::~Storage() {
  if (arena_) {
    arena_->release(data_);
  } else {
    device_backend(device_).deallocate(data_, bytes_);
  }
}

}  // namespace lucid
