// gemm_cpu: the OpenBLAS path (see lucid/kernels/gemm.h for the contract).
#include <cblas.h>

#include "lucid/error.h"
#include "lucid/kernels/gemm.h"

namespace lucid::kernels {

void gemm_cpu(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
              const float* b, int ldb, float beta, float* c, int ldc) {
  LUCID_CHECK_SHAPE(m >= 0 && n >= 0 && k >= 0) << "negative GEMM size m=" << m << " n=" << n << " k=" << k;
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n,
              k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace lucid::kernels
