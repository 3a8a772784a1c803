// Thread policy of the CPU kernels: one pool, no oversubscription.
//
// lucid parallelises its row and elementwise kernels with OpenMP and gets large GEMMs from
// OpenBLAS (pthreads build). Both pools spin-wait after a parallel region, so running both with
// N threads on N cores makes each steal the other's cores. The policy: OpenMP gets N threads
// (LUCID_THREADS, else OMP_NUM_THREADS, else the core count) and OpenBLAS gets 1;
// gemm_rows_parallel_cpu (used by the engine's linear ops) splits large GEMMs into per-thread row
// blocks inside one OpenMP region, so GEMMs still use all N cores. init_threads() applies the
// policy once (idempotent; ops call it lazily). Code calling gemm_cpu directly after that gets a
// single-threaded BLAS call: use gemm_rows_parallel_cpu for large products.
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

namespace lucid::kernels {

void init_threads();
int num_threads();
void set_num_threads(int n);  // overrides the environment for the whole process

// The threads a kernel called from here may fork: num_threads() outside any parallel region, 1
// inside one (nested regions are off, so a fork there would run its blocks one after another on
// the calling thread; a kernel that splits work by thread count should not split at all).
int free_threads();

// Runs job(i) for every i in [0, n) as whole jobs spread over lucid's threads, in no fixed order.
// Inside a job free_threads() is 1, so each job's kernels run on one thread and compute the same
// floats whichever thread takes it: results do not depend on the schedule. Why: independent
// networks of one update (the reward head and the Q ensemble) run faster side by side, one per
// core, than one after another with every GEMM split over the cores (no per-thread re-packing of
// the same weights, no barrier per kernel). The first exception a job throws is rethrown here
// after all jobs ended. Outside-in only: called from inside a parallel region it runs serially.
class JobFn;
void parallel_jobs(int n, JobFn job);

// A non-owning reference to a callable job(int) for parallel_jobs: unlike std::function it never
// allocates (the update promises no allocation), and the callable only has to outlive the call.
class JobFn {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, JobFn>>>
  JobFn(F&& f)  // NOLINT(google-explicit-constructor): passed as a lambda at every call
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* obj, int i) { (*static_cast<std::remove_reference_t<F>*>(obj))(i); }) {}
  void operator()(int i) const { call_(obj_, i); }

 private:
  void* obj_;
  void (*call_)(void*, int);
};

// Block i of `parts` near-equal blocks of [0, n), boundaries on multiples of `align` (the last
// block takes the remainder): [first, second). Blocks of one split cover [0, n) without overlap.
std::pair<int, int> block_range(int n, int parts, int i, int align = 1);

// C = op(A) op(B) + beta C (row-major, as gemm_cpu) with the rows of C split into one block of
// whole 16-row panels per OpenMP thread, each a single-threaded OpenBLAS call. Small problems
// (< 4 MFLOP, or fewer than 16 rows per thread) run as one call. Use this rather than gemm_cpu
// for large GEMMs outside a parallel region, so BLAS work uses all of lucid's threads.
void gemm_rows_parallel_cpu(bool trans_a, bool trans_b, int m, int n, int k, const float* a, int lda,
                            const float* b, int ldb, float beta, float* c, int ldc);

// Below this many floats an elementwise/row kernel stays on one thread (a parallel region costs
// a few microseconds, about what 32k mish evaluations take).
inline constexpr std::int64_t kParallelGrain = 1 << 15;

}  // namespace lucid::kernels
