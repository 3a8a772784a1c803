// Device memory: the one seam between the engine and a device's runtime.
//
// Every byte a Tensor owns is allocated, freed, copied and cleared through a DeviceBackend. The
// CPU backend is built in: a caching pool of 64-byte-aligned blocks (cache-line and AVX-512
// aligned) keyed by rounded size, so the steady state of a training step or a planning call
// allocates nothing from the OS. A CUDA backend registers itself with set_device_backend(kCuda,
// ...); until one does, CUDA allocations throw lucid::Error("CUDA backend not built").
//
// Arena: a per-step bump allocator. While an ArenaScope is alive on a thread, new CPU tensors of
// that thread come from the arena; reset() rewinds it in O(1) and refuses (throws) while any
// block it handed out is still alive, so a dangling tensor is an error, not a silent corruption.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "lucid/engine/tensor.h"

namespace lucid {

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void deallocate(void* p, std::size_t bytes) = 0;
  // Copies between this device and the host or itself. `to_device`/`from_device` say which side is ours.
  virtual void copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes) = 0;
  virtual void memset_zero(void* p, std::size_t bytes) = 0;
};

// The backend for a device; throws for kCuda until a CUDA backend is registered.
DeviceBackend& device_backend(Device d);
void set_device_backend(Device d, DeviceBackend* backend);  // not owned; must outlive all tensors

struct CpuPoolStats {
  std::uint64_t allocations = 0;  // requests served
  std::uint64_t cache_hits = 0;   // of those, served from the free lists
  std::size_t bytes_in_use = 0;
  std::size_t bytes_cached = 0;  // freed blocks kept for reuse
};

// The caching CPU allocator. Thread-safe. Sizes are rounded up to 64 bytes below 4 KiB, and to
// the next of 8 steps per power of two above, so freed blocks are reused across slightly
// different shapes while the worst-case waste stays under 12.5%.
class CpuPool final : public DeviceBackend {
 public:
  static constexpr std::size_t kAlignment = 64;
  static CpuPool& instance();
  ~CpuPool() override;

  void* allocate(std::size_t bytes) override;
  void deallocate(void* p, std::size_t bytes) override;
  void copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes) override;
  void memset_zero(void* p, std::size_t bytes) override;

  static std::size_t round_size(std::size_t bytes);
  CpuPoolStats stats() const;
  void release_cached();  // returns every cached block to the OS

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  CpuPoolStats stats_;
};

class Arena {
 public:
  explicit Arena(std::size_t capacity_bytes);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // nullptr when the request does not fit (the caller falls back to the pool).
  void* allocate(std::size_t bytes);
  void release(void* p);  // bookkeeping only: memory is reclaimed by reset()
  void reset();           // throws lucid::Error if any block is still alive
  std::size_t used() const { return used_; }
  std::size_t capacity() const { return capacity_; }
  std::size_t high_water() const { return high_water_; }
  std::size_t live_blocks() const { return live_; }

 private:
  std::byte* base_ = nullptr;
  std::size_t capacity_ = 0, used_ = 0, high_water_ = 0, live_ = 0;
};

// Routes this thread's new CPU tensors to `arena` for the scope's lifetime (scopes nest).
class ArenaScope {
 public:
  explicit ArenaScope(Arena& arena);
  ~ArenaScope();
  ArenaScope(const ArenaScope&) = delete;
  ArenaScope& operator=(const ArenaScope&) = delete;
  static Arena* current();

 private:
  Arena* prev_;
};

}  // namespace lucid
