// Single-precision GEMM on the CPU:  C = alpha * op(A) * op(B) + beta * C, row-major.
//
// Shapes: op(A) is m x k, op(B) is k x n, C is m x n; lda/ldb/ldc are row strides in floats.
// Memory contract: C is written (beta = 0) or accumulated (beta = 1); A and B are read only.
// This is the OpenBLAS path, for everything but no-grad products with m <= 64 rows: those go to
// the small-batch path with weights pre-packed per parameter version (gemm_small.h), because
// OpenBLAS re-packs B on every call and that dominates at planning batch sizes.
#pragma once

namespace lucid::kernels {

void gemm_cpu(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
              const float* b, int ldb, float beta, float* c, int ldc);

}  // namespace lucid::kernels

// ---- CUDA backend ----
// gemm_cuda, gemm_strided_batched_cuda: the same row-major contract on cuBLAS (kernels/cuda/gemm.cu).
#include "lucid/kernels/cuda/gemm.h"
