// What this CPU can run, checked once: the instruction sets lucid's hand-vectorised CPU paths are
// written for. Every kernel that picks a path at run time asks here (gemm_small's tiles, SimNorm's
// rows, the Philox lanes), so they agree on what "has AVX2" means.
//   cpu_has_avx2_fma(): AVX2 and FMA (Haswell, Zen and later).
//   cpu_has_avx512f(): AVX-512F on top of those (Skylake-SP and later Xeons; no AMD host so far).
#pragma once

namespace lucid::kernels {

bool cpu_has_avx2_fma();
bool cpu_has_avx512f();

}  // namespace lucid::kernels
