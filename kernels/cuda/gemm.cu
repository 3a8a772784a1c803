// Row-major GEMM launchers on cuBLAS. Contract: lucid/kernels/cuda/gemm.h.
//
// One cuBLAS handle per host thread (cuBLAS handles are not meant to be shared between threads
// issuing work concurrently), created on first use and bound to the caller's stream on every call
// (cublasSetStream is a field write). Handles live until process exit: destroying them from
// static destructors can run after the CUDA runtime has shut down.
#include "lucid/kernels/cuda/gemm.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid::kernels {
namespace {

cublasHandle_t handle_for(cuda::StreamHandle stream) {
  thread_local cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    LUCID_CUBLAS_CHECK(cublasCreate(&h));
    return h;
  }();
  LUCID_CUBLAS_CHECK(cublasSetStream(handle, stream));
  return handle;
}

cublasOperation_t op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

void check_dims(const char* name, bool ta, bool tb, int m, int n, int k, int lda, int ldb, int ldc) {
  LUCID_CHECK_SHAPE(m >= 0 && n >= 0 && k >= 0 && lda >= (ta ? m : k) && ldb >= (tb ? k : n) && ldc >= n)
      << name << ": m=" << m << " n=" << n << " k=" << k << " lda=" << lda << " ldb=" << ldb << " ldc=" << ldc
      << (ta ? " A^T" : "") << (tb ? " B^T" : "");
}

}  // namespace

void gemm_cuda(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
               const float* b, int ldb, float beta, float* c, int ldc, cuda::StreamHandle stream) {
  check_dims("gemm", trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  LUCID_NVTX_RANGE("kernels/gemm");
  // Row-major C (m x n) is column-major C^T (n x m) = op(B)^T op(A)^T: swap the operands.
  LUCID_CUBLAS_CHECK(cublasSgemm(handle_for(stream), op(trans_b), op(trans_a), n, m, k, &alpha, b, ldb, a,
                                 lda, &beta, c, ldc));
}

void gemm_strided_batched_cuda(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                               int lda, std::int64_t stride_a, const float* b, int ldb, std::int64_t stride_b,
                               float beta, float* c, int ldc, std::int64_t stride_c, int batch,
                               cuda::StreamHandle stream) {
  check_dims("gemm_strided_batched", trans_a, trans_b, m, n, k, lda, ldb, ldc);
  LUCID_CHECK_SHAPE(batch >= 0 && stride_a >= 0 && stride_b >= 0 && stride_c >= 0)
      << "gemm_strided_batched: batch=" << batch << " strides " << stride_a << ", " << stride_b << ", "
      << stride_c;
  if (m == 0 || n == 0 || batch == 0) return;
  LUCID_NVTX_RANGE("kernels/gemm_strided_batched");
  LUCID_CUBLAS_CHECK(cublasSgemmStridedBatched(handle_for(stream), op(trans_b), op(trans_a), n, m, k, &alpha,
                                               b, ldb, stride_b, a, lda, stride_a, &beta, c, ldc, stride_c,
                                               batch));
}

}  // namespace lucid::kernels
