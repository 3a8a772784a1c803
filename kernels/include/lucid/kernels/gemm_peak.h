// The machine's measured GEMM roof, what planning and training throughput is reported against.
//
// sgemm_peak_gflops(threads, n, calls): OpenBLAS cblas_sgemm of two n x n matrices on `threads`
// threads, timed over `calls` calls after one untimed call; returns the best call's GFLOP/s
// (2 n^3 / seconds / 1e9). The best, not the median: it is the ceiling, and on a shared host the
// slow calls are the other tenant's. Memory: three n x n float matrices for the duration.
// Threads: OpenBLAS gets `threads` for the measurement and is handed back to lucid's policy
// (one OpenBLAS thread, threading.h) before returning. Takes about calls x 15 ms at n = 1024 on
// two cores.
#pragma once

namespace lucid::kernels {

double sgemm_peak_gflops(int threads, int n = 1024, int calls = 12);

}  // namespace lucid::kernels
