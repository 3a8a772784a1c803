// GEMMs on the GPU through cuBLAS (kernels/cuda/gemm.cu; under the emulator, its cuBLAS shim on
// gemm_cpu): the arguments and contract of lucid/kernels/gemm.h plus a stream.
//
// gemm_cuda: C = alpha op(A) op(B) + beta C, ROW-major like gemm_cpu; op(A) m x k, op(B) k x n,
//   C m x n; lda/ldb/ldc are row strides in floats. beta = 0 writes C, beta = 1 accumulates.
// gemm_strided_batched_cuda: `batch` independent products, matrix i of A/B/C starting at
//   i * stride_a / stride_b / stride_c floats (a stride of 0 shares one matrix across the batch:
//   the ensemble's shared input). One cuBLAS call.
// cuBLAS is column-major; a row-major matrix is its transpose, so C^T = op(B)^T op(A)^T is issued
// with the operands swapped — no copies, no transposes. All pointers are device pointers.
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

void gemm_cuda(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
               const float* b, int ldb, float beta, float* c, int ldc, cuda::StreamHandle stream);
void gemm_strided_batched_cuda(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                               int lda, std::int64_t stride_a, const float* b, int ldb, std::int64_t stride_b,
                               float beta, float* c, int ldc, std::int64_t stride_c, int batch,
                               cuda::StreamHandle stream);

}  // namespace lucid::kernels
