// Small-batch GEMM with a pre-packed right-hand side: C = alpha * A · op(B) + beta * C (+ bias).
//
// Why: at planning batch sizes (m <= 64 rows, and MPPI's 512 with versioned weights) OpenBLAS spends most of
// a call re-packing the weight matrix (8 x 518 -> 512 takes ~100 µs, ~40 GFLOP/s). Weights change only when
// the optimizer steps, so lucid packs op(B) once per parameter version into 16-column panels and streams the
// panels through a register-blocked micro-kernel chosen at run time: AVX-512 (12 x 16 tiles or smaller),
// AVX2/FMA (6 x 16 or smaller), or a portable loop.
//
// Shapes (row-major): A is m x k (row stride lda), op(B) is k x n, C is m x n (row stride ldc).
//   trans_b = true:  B is stored n x k (a Linear weight [out, in]; y = x W^T), ldb >= k
//   trans_b = false: B is stored k x n, ldb >= n
// Packed layout: ceil(n/16) panels; panel j holds op(B)[p][16j .. 16j+15] for p = 0..k-1,
// contiguous, zero-padded past n. gemm_packed_b_floats() says how many floats that is.
// Memory contract: C is written (beta = 0) or accumulated (beta != 0; C is read only then);
// bias (n floats, may be null) is added to every row; A, B and the packed panels are read only.
// Any m works; m <= kGemmSmallMaxM is where this beats BLAS. OpenMP splits panels across threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace lucid::kernels {

inline constexpr int kGemmSmallMaxM = 64;  // the engine routes no-grad linears with m <= this here
inline constexpr int kGemmPanelWidth = 16;
// Below this many multiply-adds a packed-panel product stays on one thread: the OpenMP fork/join
// (~2 us) costs more than it saves. Shared by gemm_packed_cpu and the products that reuse its panels.
inline constexpr std::int64_t kGemmParallelMacs = 1 << 17;

std::size_t gemm_packed_b_floats(int n, int k);

// Packs op(B) into `packed` (gemm_packed_b_floats(n, k) floats, 32-byte aligned preferred).
void gemm_pack_b_cpu(bool trans_b, int n, int k, const float* b, int ldb, float* packed);

void gemm_packed_cpu(int m, int n, int k, float alpha, const float* a, int lda, const float* packed_b,
                     float beta, float* c, int ldc, const float* bias = nullptr);

// The packed form of one matrix version, shared by every caller that asks for it.
struct PackedB {
  int n = 0, k = 0;
  std::unique_ptr<float[], void (*)(void*)> data{nullptr, nullptr};
};

// Process-wide cache of packed weights keyed by (b pointer, version, trans_b, n, k, ldb): packs
// on a miss, keeps one version per pointer, and evicts least-recently-used entries beyond
// gemm_pack_cache_capacity bytes. A hit also compares a 64-element fingerprint of B, so a freed
// weight whose address is reused by a new tensor (or a write that forgot to bump the version)
// is repacked instead of served stale. Thread-safe; the returned panels stay valid while held.
std::shared_ptr<const PackedB> gemm_pack_cached(bool trans_b, int n, int k, const float* b, int ldb,
                                                std::uint64_t version);
void gemm_pack_cache_clear();
std::size_t gemm_pack_cache_bytes();
void gemm_pack_cache_set_capacity(std::size_t bytes);  // default 512 MiB

// The engine's entry point: gemm_pack_cached + gemm_packed_cpu.
void gemm_small_cpu(bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                    int ldb, std::uint64_t b_version, float beta, float* c, int ldc,
                    const float* bias = nullptr);

// The micro-kernels, in increasing order of width.
enum class GemmIsa { generic, avx2, avx512 };
bool gemm_small_cpu_has(GemmIsa isa);
// The widest kernel the CPU has, unless capped: tests cap it to cover each kernel.
GemmIsa gemm_small_isa_in_use();
const char* gemm_small_isa();          // "avx512", "avx2-fma" or "generic"
void gemm_small_cap_isa(GemmIsa cap);  // GemmIsa::avx512 lifts the cap (the default)

}  // namespace lucid::kernels
