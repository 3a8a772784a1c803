// LUCID_CPU_CLONES: compile a hot CPU function three times — for x86-64-v4 (AVX-512), x86-64-v3
// (AVX2 + FMA, Haswell and later) and the baseline — and pick one at load time (GCC/Clang
// target_clones, an ifunc).
// The library is built without -march=native so it runs anywhere; the row kernels of a training
// step (LayerNorm + Mish) are where the 8- or 16-wide float lanes pay, so they get a clone. Put
// it on a function that does a whole row (not on an OpenMP outlined region), so the dispatch
// cost is one indirect call per row.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(LUCID_NO_CLONES)
#define LUCID_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
// For a function whose AVX-512 twin is written separately (softmax.cc's SimNorm rows): AVX2 and
// the baseline only.
#define LUCID_CPU_CLONES_AVX2 __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define LUCID_CPU_CLONES
#define LUCID_CPU_CLONES_AVX2
#endif
