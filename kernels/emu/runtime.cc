// The CUDA emulator's runtime: the block scheduler (one Boost.Context fiber per CUDA thread),
// device memory, streams, events, graph capture and replay, the cuBLAS shim, and launch counters.
//
// Scheduling: a grid runs block by block on the calling OS thread. Inside a block every thread
// is a fiber that runs until it reaches a rendezvous (__syncthreads, __syncwarp, a shuffle or
// vote) or returns. When no fiber can run and some still wait, the kernel has deadlocked (a
// __syncthreads in divergent code, a shuffle with absent lanes) and the launch throws
// lucid::CudaError naming the kernel.
// A barrier is released the moment its last participant arrives. In random order the next fiber
// is drawn at random (per block: among all runnable fibers, or warp by warp until the warp blocks
// at __syncthreads), so a read of shared memory that is only correct because another thread or
// warp happened to run first is exposed.
//
// Memory contract: "device" memory is host memory from cudaMalloc, registered by address range
// so that copies are checked for direction and bounds, and poisoned with 0xFF bytes (a NaN for
// every float) so that reading what was never written shows up in results. Everything is
// synchronous: a stream is a counter set plus an optional graph being captured.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <boost/context/fiber.hpp>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "emu/cuda_emu.h"
#include "lucid/error.h"
#include "lucid/kernels/gemm.h"

namespace ctx = boost::context;

// The emulated stream (cudaStream_t is CUstream_st*, as in the CUDA runtime).
struct CUstream_st {
  lucid::emu::Counters counters;
  lucid::emu::Graph* capture = nullptr;  // non-null while capturing
};

namespace lucid::emu {

using Stream = ::CUstream_st;
struct Event {
  std::chrono::steady_clock::time_point when{};
  bool recorded = false;
};
struct Graph {
  std::vector<std::function<void()>> nodes;
  std::size_t kernel_nodes = 0;
};
struct GraphExec {
  std::vector<std::function<void()>> nodes;
  std::size_t kernel_nodes = 0;
};
struct Blas {
  cudaStream_t stream = nullptr;
};

namespace {

constexpr int kWarp = 32;
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr std::size_t kDefaultMaxDynamicSmem = 48 * 1024;  // without cudaFuncSetAttribute, as on a GPU
constexpr std::size_t kMaxDynamicSmem = 227 * 1024;        // sm_90 opt-in limit
constexpr std::size_t kFiberStack = 128 * 1024;

// ---- global state ---------------------------------------------------------------------------
struct Globals {
  std::mutex mu;
  std::map<std::uintptr_t, std::size_t> allocations;  // start -> bytes
  std::size_t live_bytes = 0;
  Stream default_stream;
  Counters destroyed;  // counters of streams already destroyed, for total_counters()
  std::vector<Stream*> streams;
  std::unordered_map<const void*, std::size_t> max_dynamic_smem;
  bool random_order = false;
  std::uint64_t seed = 0x5eed;
  Globals() {
    if (const char* env = std::getenv("LUCID_EMU_RANDOM_ORDER"); env && *env && std::string(env) != "0") {
      random_order = true;
      seed = std::strtoull(env, nullptr, 0);
    }
  }
};
Globals& globals() {
  static Globals g;
  return g;
}
thread_local cudaError_t t_last_error = cudaSuccess;

cudaError_t set_error(cudaError_t e) {
  if (e != cudaSuccess) t_last_error = e;
  return e;
}
Stream* resolve(cudaStream_t s) { return s ? s : &globals().default_stream; }

// ---- fiber stacks: mmap'd once per OS thread with a guard page, reused by every launch ---------
class StackPool {
 public:
  ~StackPool() {
    for (void* base : all_) munmap(base, kFiberStack + page());
  }
  ctx::stack_context take() {
    if (free_.empty()) {
      void* base =
          mmap(nullptr, kFiberStack + page(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      LUCID_CHECK_AS(base != MAP_FAILED, CudaError) << "emulator: cannot map a fiber stack";
      mprotect(base, page(), PROT_NONE);  // overflow faults instead of corrupting a neighbour
      all_.push_back(base);
      free_.push_back(base);
    }
    void* base = free_.back();
    free_.pop_back();
    ctx::stack_context sc;
    sc.size = kFiberStack;
    sc.sp = static_cast<char*>(base) + page() + kFiberStack;
    return sc;
  }
  void give(ctx::stack_context& sc) { free_.push_back(static_cast<char*>(sc.sp) - kFiberStack - page()); }

 private:
  static std::size_t page() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }
  std::vector<void*> all_, free_;
};
thread_local StackPool t_stacks;

struct PoolAllocator {
  ctx::stack_context allocate() { return t_stacks.take(); }
  void deallocate(ctx::stack_context& sc) noexcept { t_stacks.give(sc); }
};

// ---- the block scheduler --------------------------------------------------------------------
enum class Wait { kNone, kBlock, kWarp, kDone };

struct Thread {
  ctx::fiber self;  // this CUDA thread
  ctx::fiber back;  // the scheduler, while this thread runs
  uint3 idx{};
  int warp = 0, lane = 0;
  Wait wait = Wait::kNone;
};

struct Block {
  std::vector<Thread> threads;
  std::vector<std::uint64_t> slots;  // kWarp per warp
  std::vector<int> warp_live;        // threads of each warp not yet returned
  int live = 0;
  void* dynamic_smem = nullptr;
  std::exception_ptr error;
};

thread_local Block* t_block = nullptr;
thread_local Thread* t_thread = nullptr;

void yield_with(Wait w) {
  Thread* t = t_thread;
  LUCID_CHECK_AS(t != nullptr, CudaError) << "emulator: a device barrier was called outside a kernel";
  t->wait = w;
  t->back = std::move(t->back).resume();
}

std::string describe(const char* name, uint3 b) {
  return std::string(name) + " block (" + std::to_string(b.x) + "," + std::to_string(b.y) + "," +
         std::to_string(b.z) + ")";
}

void run_block(const char* name, const std::function<void()>& body, uint3 block_idx, dim3 block, void* smem,
               std::size_t smem_bytes, std::mt19937_64* rng) {
  const int n = static_cast<int>(block.x * block.y * block.z);
  const int warps = (n + kWarp - 1) / kWarp;
  Block b;
  b.threads.resize(static_cast<std::size_t>(n));
  b.slots.assign(static_cast<std::size_t>(warps) * kWarp, 0);
  b.warp_live.assign(static_cast<std::size_t>(warps), 0);
  b.live = n;
  b.dynamic_smem = smem;
  if (smem_bytes) std::memset(smem, 0xFF, smem_bytes);  // NaN-poison: shared memory starts undefined

  for (int i = 0; i < n; ++i) {
    Thread& t = b.threads[static_cast<std::size_t>(i)];
    const unsigned u = static_cast<unsigned>(i);
    t.idx = uint3{u % block.x, (u / block.x) % block.y, u / (block.x * block.y)};
    t.warp = i / kWarp;
    t.lane = i % kWarp;
    ++b.warp_live[static_cast<std::size_t>(t.warp)];
    t.self = ctx::fiber(std::allocator_arg, PoolAllocator{}, [&b, &t, &body](ctx::fiber&& back) {
      t.back = std::move(back);
      try {
        body();
      } catch (const ctx::detail::forced_unwind&) {
        throw;  // Boost unwinding a fiber that never finished: let it through
      } catch (...) {
        if (!b.error) b.error = std::current_exception();
      }
      t.wait = Wait::kDone;
      return std::move(t.back);
    });
  }

  Block* saved_block = t_block;
  Thread* saved_thread = t_thread;
  t_block = &b;
  // Runnable fibers. A barrier is released the moment its last participant arrives, so released
  // fibers compete with everyone still running towards the same rendezvous: in random order a
  // warp may race ahead through several shuffles while another warp has not left the previous
  // __syncthreads yet, as warps do on a GPU.
  // Random order uses one of two policies per block, drawn at random:
  //  * random threads: the next fiber is any runnable one, uniformly (fine-grained interleaving);
  //  * random warps: one warp, chosen at random, runs its lanes in random order until every lane
  //    is blocked at __syncthreads or done, then another — a warp racing ahead of a stalled one,
  //    which is what exposes a missing __syncthreads between two phases that share memory.
  enum class Policy { kThreadOrder, kRandomThreads, kRandomWarps };
  const Policy policy =
      !rng ? Policy::kThreadOrder : (((*rng)() & 1) ? Policy::kRandomThreads : Policy::kRandomWarps);
  int current_warp = -1;
  std::vector<std::size_t> lanes;
  std::deque<int> runnable;
  for (int i = 0; i < n; ++i) runnable.push_back(i);
  std::vector<int> at_warp(static_cast<std::size_t>(warps), 0);
  int at_block = 0;
  auto release_warp = [&](int w) {
    for (int i = w * kWarp; i < std::min(n, (w + 1) * kWarp); ++i) {
      Thread& t = b.threads[static_cast<std::size_t>(i)];
      if (t.wait == Wait::kWarp) t.wait = Wait::kNone, runnable.push_back(i);
    }
    at_warp[static_cast<std::size_t>(w)] = 0;
  };
  auto release_block = [&] {
    for (int i = 0; i < n; ++i) {
      Thread& t = b.threads[static_cast<std::size_t>(i)];
      if (t.wait == Wait::kBlock) t.wait = Wait::kNone, runnable.push_back(i);
    }
    at_block = 0;
  };
  while (b.live > 0) {
    if (runnable.empty()) {
      t_block = saved_block;
      t_thread = saved_thread;
      LUCID_FAIL(CudaError) << "emulator: " << describe(name, block_idx) << " deadlocked: " << at_block
                            << " of " << b.live
                            << " live threads wait at __syncthreads and the rest at a warp rendezvous that "
                               "not all their lanes reach (divergent barrier?)";
    }
    std::size_t pick = 0;  // thread order: first come, first served
    if (policy == Policy::kRandomThreads) {
      pick = std::uniform_int_distribution<std::size_t>(0, runnable.size() - 1)(*rng);
    } else if (policy == Policy::kRandomWarps) {
      lanes.clear();
      for (std::size_t j = 0; j < runnable.size(); ++j)
        if (b.threads[static_cast<std::size_t>(runnable[j])].warp == current_warp) lanes.push_back(j);
      if (lanes.empty()) {  // the current warp is blocked or done: another warp, at random
        const std::size_t j = std::uniform_int_distribution<std::size_t>(0, runnable.size() - 1)(*rng);
        current_warp = b.threads[static_cast<std::size_t>(runnable[j])].warp;
        for (std::size_t k = 0; k < runnable.size(); ++k)
          if (b.threads[static_cast<std::size_t>(runnable[k])].warp == current_warp) lanes.push_back(k);
      }
      pick = lanes[std::uniform_int_distribution<std::size_t>(0, lanes.size() - 1)(*rng)];
    }
    const int i = runnable[pick];
    if (policy == Policy::kThreadOrder) {
      runnable.pop_front();
    } else {
      runnable[pick] = runnable.back();
      runnable.pop_back();
    }
    Thread& t = b.threads[static_cast<std::size_t>(i)];
    const auto w = static_cast<std::size_t>(t.warp);
    t_thread = &t;
    threadIdx = t.idx;
    t.self = std::move(t.self).resume();
    if (t.wait == Wait::kDone) {
      b.slots[static_cast<std::size_t>(i)] = 0;  // an exited lane votes false and shuffles zero
      --b.live;
      --b.warp_live[w];
      if (at_warp[w] > 0 && at_warp[w] == b.warp_live[w]) release_warp(t.warp);
      if (at_block > 0 && at_block == b.live) release_block();
    } else if (t.wait == Wait::kWarp) {
      if (++at_warp[w] == b.warp_live[w]) release_warp(t.warp);
    } else if (t.wait == Wait::kBlock) {
      if (++at_block == b.live) release_block();
    }
  }
  t_block = saved_block;
  t_thread = saved_thread;
  if (b.error) std::rethrow_exception(b.error);
}

void run_grid(const char* name, const std::function<void()>& body, dim3 grid, dim3 block,
              std::size_t smem_bytes) {
  std::vector<std::max_align_t> smem((smem_bytes + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t));
  std::unique_ptr<std::mt19937_64> rng;
  {
    Globals& g = globals();
    std::lock_guard lock(g.mu);
    if (g.random_order) rng = std::make_unique<std::mt19937_64>(g.seed++);
  }
  const dim3 saved_grid = gridDim, saved_dim = blockDim;
  const uint3 saved_block = blockIdx, saved_thread = threadIdx;
  gridDim = grid;
  blockDim = block;
  try {
    for (unsigned z = 0; z < grid.z; ++z)
      for (unsigned y = 0; y < grid.y; ++y)
        for (unsigned x = 0; x < grid.x; ++x) {
          blockIdx = uint3{x, y, z};
          run_block(name, body, blockIdx, block, smem.data(), smem_bytes, rng.get());
        }
  } catch (...) {
    gridDim = saved_grid, blockDim = saved_dim, blockIdx = saved_block, threadIdx = saved_thread;
    throw;
  }
  gridDim = saved_grid, blockDim = saved_dim, blockIdx = saved_block, threadIdx = saved_thread;
}

// The allocation holding [p, p + bytes), or end() when there is none.
std::map<std::uintptr_t, std::size_t>::const_iterator find_allocation(const Globals& g, const void* p,
                                                                      std::size_t bytes) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  auto it = g.allocations.upper_bound(a);
  if (it == g.allocations.begin()) return g.allocations.end();
  --it;
  if (a + bytes > it->first + it->second) return g.allocations.end();
  return it;
}

bool device_range(const void* p, std::size_t bytes) {
  Globals& g = globals();
  std::lock_guard lock(g.mu);
  return find_allocation(g, p, bytes == 0 ? 1 : bytes) != g.allocations.end();
}

cudaError_t check_copy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  const bool dst_dev = device_range(dst, bytes), src_dev = device_range(src, bytes);
  switch (kind) {
    case cudaMemcpyHostToHost:
      return (!dst_dev && !src_dev) ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyHostToDevice:
      return (dst_dev && !src_dev) ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToHost:
      return (!dst_dev && src_dev) ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToDevice:
      return (dst_dev && src_dev) ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDefault:
      return cudaSuccess;
  }
  return cudaErrorInvalidMemcpyDirection;
}

// Runs `op` now, or appends it to the graph being captured on `stream`.
void submit(Stream* s, std::function<void()> op, bool is_kernel) {
  if (s->capture) {
    s->capture->nodes.push_back(std::move(op));
    if (is_kernel) ++s->capture->kernel_nodes;
    return;
  }
  if (is_kernel) ++s->counters.kernel_launches;
  op();
}

}  // namespace

// ---- scheduler hooks ------------------------------------------------------------------------
void block_barrier() { yield_with(Wait::kBlock); }
void warp_barrier() { yield_with(Wait::kWarp); }
int current_lane() { return t_thread ? t_thread->lane : 0; }
int current_warp_size() {
  if (!t_block || !t_thread) return 1;
  const int n = static_cast<int>(t_block->threads.size());
  return std::min(kWarp, n - t_thread->warp * kWarp);
}
std::uint64_t* warp_slots() {
  LUCID_CHECK_AS(t_block && t_thread, CudaError) << "emulator: warp intrinsic called outside a kernel";
  return t_block->slots.data() + static_cast<std::size_t>(t_thread->warp) * kWarp;
}
void* dynamic_shared() {
  LUCID_CHECK_AS(t_block, CudaError) << "emulator: dynamic shared memory used outside a kernel";
  return t_block->dynamic_smem;
}

void launch(const void* kernel, const char* name, dim3 grid, dim3 block, std::size_t dynamic_smem,
            cudaStream_t stream, std::function<void()> body) {
  const std::size_t threads = std::size_t{block.x} * block.y * block.z;
  std::size_t smem_limit = kDefaultMaxDynamicSmem;
  {
    Globals& g = globals();
    std::lock_guard lock(g.mu);
    if (auto it = g.max_dynamic_smem.find(kernel); it != g.max_dynamic_smem.end()) smem_limit = it->second;
  }
  if (threads == 0 || threads > kMaxThreadsPerBlock || block.z > 64 || grid.x == 0 || grid.y == 0 ||
      grid.z == 0 || grid.y > 65535 || grid.z > 65535 || dynamic_smem > smem_limit) {
    set_error(cudaErrorInvalidConfiguration);
    return;
  }
  std::string label = name;
  submit(
      resolve(stream),
      [label, body = std::move(body), grid, block, dynamic_smem]() {
        run_grid(label.c_str(), body, grid, block, dynamic_smem);
      },
      true);
}

void set_random_order(bool on, std::uint64_t seed) {
  Globals& g = globals();
  std::lock_guard lock(g.mu);
  g.random_order = on;
  g.seed = seed;
}
bool random_order() {
  Globals& g = globals();
  std::lock_guard lock(g.mu);
  return g.random_order;
}

Counters counters(cudaStream_t stream) { return resolve(stream)->counters; }
Counters total_counters() {
  Globals& g = globals();
  std::lock_guard lock(g.mu);
  Counters c = g.destroyed;
  auto add = [&c](const Counters& s) {
    c.kernel_launches += s.kernel_launches;
    c.graph_launches += s.graph_launches;
    c.graph_kernel_launches += s.graph_kernel_launches;
  };
  add(g.default_stream.counters);
  for (Stream* s : g.streams) add(s->counters);
  return c;
}
void reset_counters() {
  Globals& g = globals();
  std::lock_guard lock(g.mu);
  g.destroyed = {};
  g.default_stream.counters = {};
  for (Stream* s : g.streams) s->counters = {};
}

bool is_device_pointer(const void* p, std::size_t bytes) { return device_range(p, bytes); }
std::size_t live_device_bytes() {
  Globals& g = globals();
  std::lock_guard lock(g.mu);
  return g.live_bytes;
}

}  // namespace lucid::emu

using lucid::emu::globals;
using lucid::emu::resolve;
using lucid::emu::set_error;

// ---- CUDA runtime API -----------------------------------------------------------------------
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration:
      return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer:
      return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection:
      return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice:
      return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    case cudaErrorLaunchFailure:
      return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported:
      return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated:
      return "cudaErrorStreamCaptureInvalidated";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer:
      return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection:
      return "invalid copy direction for memcpy";
    case cudaErrorNoDevice:
      return "no CUDA-capable device is detected";
    case cudaErrorInvalidResourceHandle:
      return "invalid resource handle";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure";
    case cudaErrorStreamCaptureUnsupported:
      return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
      return "operation failed due to a previous error during capture";
  }
  return "unknown error";
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = lucid::emu::t_last_error;
  lucid::emu::t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return lucid::emu::t_last_error; }
cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;  // the emulated device
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : set_error(cudaErrorInvalidValue); }
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaMalloc(void** ptr, std::size_t bytes) {
  if (!ptr) return set_error(cudaErrorInvalidValue);
  const std::size_t rounded =
      (std::max<std::size_t>(bytes, 1) + 255) / 256 * 256;  // cudaMalloc aligns to 256
  void* p = std::aligned_alloc(256, rounded);
  if (!p) return set_error(cudaErrorMemoryAllocation);
  std::memset(p, 0xFF, rounded);
  auto& g = globals();
  std::lock_guard lock(g.mu);
  g.allocations[reinterpret_cast<std::uintptr_t>(p)] = bytes;
  g.live_bytes += bytes;
  *ptr = p;
  return cudaSuccess;
}
cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  auto& g = globals();
  {
    std::lock_guard lock(g.mu);
    auto it = g.allocations.find(reinterpret_cast<std::uintptr_t>(ptr));
    if (it == g.allocations.end()) return set_error(cudaErrorInvalidDevicePointer);
    g.live_bytes -= it->second;
    g.allocations.erase(it);
  }
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (resolve(nullptr)->capture) return set_error(cudaErrorStreamCaptureUnsupported);
  if (bytes == 0) return cudaSuccess;
  if (const cudaError_t e = lucid::emu::check_copy(dst, src, bytes, kind); e != cudaSuccess)
    return set_error(e);
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (const cudaError_t e = lucid::emu::check_copy(dst, src, bytes, kind); e != cudaSuccess)
    return set_error(e);
  lucid::emu::submit(
      resolve(stream), [=] { std::memmove(dst, src, bytes); }, false);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* dst, int value, std::size_t bytes) {
  if (resolve(nullptr)->capture) return set_error(cudaErrorStreamCaptureUnsupported);
  if (bytes && !lucid::emu::device_range(dst, bytes)) return set_error(cudaErrorInvalidValue);
  std::memset(dst, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t stream) {
  if (bytes && !lucid::emu::device_range(dst, bytes)) return set_error(cudaErrorInvalidValue);
  lucid::emu::submit(
      resolve(stream), [=] { std::memset(dst, value, bytes); }, false);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, 0); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned /*flags*/) {
  if (!stream) return set_error(cudaErrorInvalidValue);
  auto& g = globals();
  std::lock_guard lock(g.mu);
  *stream = new lucid::emu::Stream;
  g.streams.push_back(*stream);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  auto& g = globals();
  std::lock_guard lock(g.mu);
  auto it = std::find(g.streams.begin(), g.streams.end(), stream);
  if (it == g.streams.end()) return set_error(cudaErrorInvalidResourceHandle);
  g.destroyed.kernel_launches += stream->counters.kernel_launches;
  g.destroyed.graph_launches += stream->counters.graph_launches;
  g.destroyed.graph_kernel_launches += stream->counters.graph_kernel_launches;
  g.streams.erase(it);
  delete stream->capture;
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return resolve(stream)->capture ? set_error(cudaErrorStreamCaptureUnsupported) : cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode /*mode*/) {
  if (!stream) return set_error(cudaErrorStreamCaptureUnsupported);  // the legacy stream cannot capture
  if (stream->capture) return set_error(cudaErrorInvalidValue);
  stream->capture = new lucid::emu::Graph;
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (!stream || !stream->capture || !graph) return set_error(cudaErrorInvalidValue);
  *graph = stream->capture;
  stream->capture = nullptr;
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  *status = resolve(stream)->capture ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long /*flags*/) {
  if (!exec || !graph) return set_error(cudaErrorInvalidValue);
  *exec = new lucid::emu::GraphExec{graph->nodes, graph->kernel_nodes};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (!exec) return set_error(cudaErrorInvalidValue);
  lucid::emu::Stream* s = resolve(stream);
  if (s->capture) return set_error(cudaErrorStreamCaptureUnsupported);
  ++s->counters.graph_launches;
  s->counters.graph_kernel_launches += exec->kernel_nodes;
  for (const auto& node : exec->nodes) node();
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  if (!event) return set_error(cudaErrorInvalidValue);
  *event = new lucid::emu::Event;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!event) return set_error(cudaErrorInvalidResourceHandle);
  lucid::emu::submit(
      resolve(stream),
      [event] {
        event->when = std::chrono::steady_clock::now();
        event->recorded = true;
      },
      false);
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  return event ? cudaSuccess : set_error(cudaErrorInvalidResourceHandle);
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms || !start || !end || !start->recorded || !end->recorded)
    return set_error(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      static_cast<std::size_t>(value) > lucid::emu::kMaxDynamicSmem)
    return set_error(cudaErrorInvalidValue);
  auto& g = globals();
  std::lock_guard lock(g.mu);
  g.max_dynamic_smem[func] = static_cast<std::size_t>(value);
  return cudaSuccess;
}

unsigned __ballot_sync(unsigned /*mask*/, int predicate) {
  using lucid::emu::warp_exchange;
  const int lane = lucid::emu::current_lane(), width = lucid::emu::current_warp_size();
  unsigned bits = 0;
  // One rendezvous per lane would be 64 switches; publish once, read all slots, then release.
  std::uint64_t* slots = lucid::emu::warp_slots();
  slots[lane] = predicate ? 1u : 0u;
  lucid::emu::warp_barrier();
  for (int l = 0; l < width; ++l)
    if (slots[l]) bits |= 1u << l;
  lucid::emu::warp_barrier();
  return bits;
}
int __all_sync(unsigned mask, int predicate) {
  const int width = lucid::emu::current_warp_size();
  const unsigned all = width == 32 ? 0xffffffffu : ((1u << width) - 1u);
  return __ballot_sync(mask, predicate) == all;
}

// ---- cuBLAS shim ----------------------------------------------------------------------------
cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = new lucid::emu::Blas;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
const char* cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS:
      return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
                           int n, int k, const float* alpha, const float* a, int lda, const float* b, int ldb,
                           const float* beta, float* c, int ldc) {
  return cublasSgemmStridedBatched(handle, transa, transb, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc,
                                   0, 1);
}
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k, const float* alpha,
                                         const float* a, int lda, long long stride_a, const float* b, int ldb,
                                         long long stride_b, const float* beta, float* c, int ldc,
                                         long long stride_c, int batch) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (m < 0 || n < 0 || k < 0 || batch < 0 || !alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
  const bool ta = transa == CUBLAS_OP_T, tb = transb == CUBLAS_OP_T;
  if (lda < std::max(1, ta ? k : m) || ldb < std::max(1, tb ? n : k) || ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  const float al = *alpha, be = *beta;  // host pointer mode: read at call time, as cuBLAS does
  lucid::emu::submit(
      resolve(handle->stream),
      [=] {
        // Column-major C = op(A) op(B) is row-major C^T = op(B)^T op(A)^T: swap the operands.
        for (int i = 0; i < batch; ++i)
          lucid::kernels::gemm_cpu(tb, ta, n, m, k, al, b + i * stride_b, ldb, a + i * stride_a, lda, be,
                                   c + i * stride_c, ldc);
      },
      true);
  return CUBLAS_STATUS_SUCCESS;
}
