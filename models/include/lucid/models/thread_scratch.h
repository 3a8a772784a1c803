// ThreadScratch<T>: one T per OpenMP thread of the calling team, for models whose queries may run
// concurrently (WorldModel::concurrent_queries).
//
// Why: a query concatenates its inputs into, and runs its MLPs through, caches that a second
// thread must not touch. OpenMP thread t of a team owns slot t (a serial caller is thread 0), so
// the threads of one parallel region query at once without sharing a byte, and a serial caller
// keeps reusing slot 0. Slots are created on a thread's first query and live as long as the model.
// Memory contract: get() allocates only the first time a thread number asks; the caller grows what
// it holds (MlpCache::reserve) and keeps it for every later query.
#pragma once

#include <omp.h>

#include <array>
#include <memory>

#include "lucid/error.h"

namespace lucid::models {

template <typename T>
class ThreadScratch {
 public:
  static constexpr int kMaxThreads = 64;

  // The calling thread's slot. Not safe against two callers that share a thread number (two
  // concurrent teams), which lucid's planners never create.
  T& get() const {
    const int t = omp_in_parallel() ? omp_get_thread_num() : 0;
    LUCID_CHECK(t < kMaxThreads) << "model queries from OpenMP thread " << t << ": at most " << kMaxThreads
                                 << " threads are supported";
    std::unique_ptr<T>& slot = slots_[static_cast<std::size_t>(t)];
    if (!slot) slot = std::make_unique<T>();
    return *slot;
  }

 private:
  mutable std::array<std::unique_ptr<T>, kMaxThreads> slots_;
};

}  // namespace lucid::models
