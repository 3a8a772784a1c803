// The AVX2 + FMA rows of LayerNorm(+Mish), forward and backward, written with intrinsics
// (internal to lucid_kernels; layernorm.cc picks them, tests call them directly).
//
// Why not the x86-64-v3 clone of the plain loop: GCC if-converts mish's and exp_poly's scalar
// clamps into compares, ands and four blends of precomputed results (about 50 instructions per 8
// values where 27 do; about 70 for mish's gradient), and it sums each row's statistics in one
// vector accumulator, so the forward's two statistics passes wait on add/FMA latency (3-4 cycles
// per 8 values). Here the clamps are one vmin and one vmax, the forward's four rows' sums run side
// by side, and the backward's six passes over a row become two.
//
// Same arithmetic as the clone, step for step (lane-wise float sums; lanes added 0 + l0 + ... + l7;
// mean, then squared deviations; the same FMA contractions in the affine step and exp_poly), so on
// a CPU whose clone is the x86-64-v3 one the two agree bit for bit.
//
// Forward shapes: x, y rows x cols, cols a multiple of 8; gamma, beta cols; mean, rstd rows.
// Writes y, mean, rstd with `=`. One thread; the caller splits rows.
// Backward: one row of layernorm_backward_linear_cpu (layernorm.h): gx, mask (may be null: no
// dropout) and dp (scratch) are cols floats; pg/pb (null: no parameter gradients) and pd (null:
// no bias gradient) ACCUMULATE this row's terms with `+=`; gx null: only the parameter partials.
#pragma once

#include <cstdint>

namespace lucid::kernels::detail {

void layernorm_forward_rows_avx2(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                                 float* rstd, std::int64_t rows, std::int64_t cols, float eps,
                                 bool fuse_mish);

void layernorm_backward_row_avx2(const float* x, const float* gamma, const float* beta, float mean,
                                 float rstd, const float* gy, float* gx, const float* mask, float* pg,
                                 float* pb, float* pd, float* dp, std::int64_t cols, bool fuse_mish);

// The other path, one row at a time through the per-ISA clones (layernorm.cc): what runs where the
// AVX2 rows do not apply (AVX-512 CPUs, widths that are not a multiple of 8). Same arguments, any
// cols. Tests hold the two side by side.
void layernorm_forward_rows_cloned(const float* x, const float* gamma, const float* beta, float* y,
                                   float* mean, float* rstd, std::int64_t rows, std::int64_t cols, float eps,
                                   bool fuse_mish);
void layernorm_backward_row_cloned(const float* x, const float* gamma, const float* beta, float mean,
                                   float rstd, const float* gy, float* gx, const float* mask, float* pg,
                                   float* pb, float* pd, float* dp, std::int64_t cols, bool fuse_mish);

}  // namespace lucid::kernels::detail
