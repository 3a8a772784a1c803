// Replaces the global operator new / delete to count allocations (see alloc_counter.h). It lives in
// its own translation unit so no caller inlines it (GCC's -Wmismatched-new-delete would misfire).
#include "alloc_counter.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<long long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace lucid::testing {
long long allocation_count() { return g_allocations.load(std::memory_order_relaxed); }
}  // namespace lucid::testing
