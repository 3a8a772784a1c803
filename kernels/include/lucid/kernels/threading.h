// Thread policy of the CPU kernels: one pool, no oversubscription.
//
// lucid parallelises its row and elementwise kernels with OpenMP and gets large GEMMs from
// OpenBLAS (pthreads build). Both pools spin-wait after a parallel region, so running both with
// N threads on N cores makes each steal the other's cores. The policy: OpenMP gets N threads
// (LUCID_THREADS, else OMP_NUM_THREADS, else the core count) and OpenBLAS gets 1; the engine's
// linear op splits large GEMMs into per-thread row blocks inside one OpenMP region, so GEMMs still
// use all N cores. init_threads() applies the policy once (idempotent; ops call it lazily).
#pragma once

#include <cstdint>

namespace lucid::kernels {

void init_threads();
int num_threads();
void set_num_threads(int n);  // overrides the environment for the whole process

// Below this many floats an elementwise/row kernel stays on one thread (a parallel region costs
// a few microseconds, about what 32k mish evaluations take).
inline constexpr std::int64_t kParallelGrain = 1 << 15;

}  // namespace lucid::kernels
