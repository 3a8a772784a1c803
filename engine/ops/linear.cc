// linear, matmul and ensemble_linear: GEMMs on gemm_cpu, split into per-thread row blocks, or,
// for CUDA tensors, on cuBLAS (kernels/cuda/gemm.cu): the E members of an ensemble are ONE
// strided-batched GEMM (a shared input has stride 0), and a bias is expanded into the output
// first so the GEMM accumulates on top of it (beta = 1): two launches per layer.
//
// Backward of y = x W^T + b is two GEMMs on the untransposed buffers (gx = gy W, gW = gy^T x)
// plus a column sum for gb; nothing is copied or transposed. Weight gradients go straight into
// the parameter's grad buffer with beta = 1 when the tape offers it (BackwardContext::
// accumulate_target), and are skipped entirely when not requested — grad(outputs, inputs)
// therefore runs no weight-gradient GEMM (counted in AutogradStats::weight_grad_gemms).
#include <algorithm>

#include "lucid/engine/ops.h"
#include "lucid/kernels/gemm.h"
#include "lucid/kernels/gemm_small.h"
#include "lucid/kernels/reduce.h"
#include "lucid/kernels/threading.h"
#include "op_util.h"

namespace lucid {
using namespace ops_detail;
namespace {

// Large GEMMs split their rows over the OpenMP threads (lucid/kernels/threading.h).
void gemm_rows(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb,
               float beta, float* c, int ldc) {
  kernels::gemm_rows_parallel_cpu(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

// Products with few rows (planning batches) go to the small-batch GEMM, whose weights stay packed
// per (pointer, storage version) across calls (kernels/gemm_small.h): the forward y = x W^T, and,
// in backward, the input gradient gx = gy W (W packed in its other orientation, a separate cache
// entry). That keeps Dream-MPC's grad() iterations, which run the same weights with a tape, off
// OpenBLAS's per-call repack. Weight gradients (gW = gy^T x: many rows) stay on BLAS.
bool use_small_gemm(int m) { return m > 0 && m <= kernels::kGemmSmallMaxM; }

// The device's GEMM: row blocks over OpenMP threads on the CPU, cuBLAS on CUDA.
void gemm_on(Device dev, bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b,
             int ldb, float beta, float* c, int ldc) {
  if (dev == Device::kCuda)
    gpu().gemm(ta, tb, m, n, k, 1.f, a, lda, b, ldb, beta, c, ldc, gpu().stream);
  else
    gemm_rows(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

// gx (m x k) = gy (m x n) W (n x k), W at storage version `version`.
void input_grad_gemm(Device dev, int m, int n, int k, const float* gy, const float* w, std::uint64_t version,
                     float beta, float* gx) {
  if (dev == Device::kCuda)
    gemm_on(dev, false, false, m, k, n, gy, n, w, k, beta, gx, k);
  else if (use_small_gemm(m))
    kernels::gemm_small_cpu(false, m, k, n, 1.f, gy, n, w, k, version, beta, gx, k);
  else
    gemm_rows(false, false, m, k, n, gy, n, w, k, beta, gx, k);
}

// y[g, r, :] = b[g, :] for every row of each of `groups` blocks (so the GEMM can accumulate on top
// with beta = 1).
void fill_rows(Device dev, float* y, const float* b, std::int64_t groups, std::int64_t rows,
               std::int64_t cols) {
  if (dev == Device::kCuda) {
    gpu().expand(b, kernels::Dims4{{1, groups, 1, cols}}, y, kernels::Dims4{{1, groups, rows, cols}}, 1.f,
                 gpu().stream);
    return;
  }
  for (std::int64_t g = 0; g < groups; ++g)
    for (std::int64_t r = 0; r < rows; ++r)
      std::copy(b + g * cols, b + (g + 1) * cols, y + (g * rows + r) * cols);
}

// out (cols) = column sums of x (rows x cols): a bias gradient.
void column_sum(Device dev, const float* x, float* out, std::int64_t rows, std::int64_t cols) {
  if (dev == Device::kCuda)
    gpu().reduce_leading_sum(x, out, rows, cols, gpu().stream);
  else
    kernels::reduce_leading_sum_cpu(x, out, rows, cols);
}

// Gives weight gradient gW = gy^T x (N x K), into the parameter's buffer when offered.
void weight_grad(Device dev, BackwardContext& ctx, int idx, const float* gy, const float* x, int m, int n,
                 int k, std::int64_t w_offset = 0, Tensor* accumulate = nullptr) {
  ++autograd_stats().weight_grad_gemms;
  Tensor target = ctx.accumulate_target(idx);
  if (target.defined()) {
    gemm_on(dev, true, false, n, k, m, gy, n, x, k, 1.f, target.data() + w_offset, k);
    return;
  }
  gemm_on(dev, true, false, n, k, m, gy, n, x, k, 0.f, accumulate->data() + w_offset, k);
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  require_defined("linear", {&x, &w});
  const Device dev = common_device("linear", {&x, &w, &b});
  LUCID_CHECK_SHAPE(w.dim() == 2 && x.dim() >= 1 && x.size(-1) == w.size(1))
      << "linear: x " << x.shape().str() << " and W " << w.shape().str() << " (out, in)";
  LUCID_CHECK_SHAPE(!b.defined() || (b.dim() == 1 && b.size(0) == w.size(0)))
      << "linear: bias " << b.shape().str() << " for W " << w.shape().str();
  const int m = static_cast<int>(x.shape().rows()), k = static_cast<int>(w.size(1)),
            n = static_cast<int>(w.size(0));
  Tensor y = Tensor::empty(with_last(x.shape(), n), dev);
  if (dev == Device::kCuda) {
    if (b.defined()) fill_rows(dev, y.data(), b.data(), 1, m, n);
    gemm_on(dev, false, true, m, n, k, x.data(), k, w.data(), k, b.defined() ? 1.f : 0.f, y.data(), n);
  } else if (use_small_gemm(m)) {
    kernels::gemm_small_cpu(true, m, n, k, 1.f, x.data(), k, w.data(), k, w.version(), 0.f, y.data(), n,
                            b.defined() ? b.data() : nullptr);
  } else {
    if (b.defined()) fill_rows(dev, y.data(), b.data(), 1, m, n);
    gemm_rows(false, true, m, n, k, x.data(), k, w.data(), k, b.defined() ? 1.f : 0.f, y.data(), n);
  }

  if (needs_record({&x, &w, &b})) {
    Tensor xs = saved(x), ws = saved(w);
    const bool has_b = b.defined();
    record(y,
           node("linear",
                [xs, ws, dev, has_b, m, n, k](BackwardContext& ctx) {
                  const float* gy = ctx.grad_out().data();
                  if (ctx.needs(0)) {
                    Tensor gx = Tensor::empty(xs.shape(), dev);
                    input_grad_gemm(dev, m, n, k, gy, ws.data(), ws.version(), 0.f, gx.data());
                    ctx.set(0, gx);
                  }
                  if (ctx.needs(1)) {
                    if (ctx.accumulate_target(1).defined()) {
                      weight_grad(dev, ctx, 1, gy, xs.data(), m, n, k);
                      ctx.accumulated(1);
                    } else {
                      Tensor gw = Tensor::empty(ws.shape(), dev);
                      weight_grad(dev, ctx, 1, gy, xs.data(), m, n, k, 0, &gw);
                      ctx.set(1, gw);
                    }
                  }
                  if (has_b && ctx.needs(2)) {
                    Tensor gb = Tensor::empty(Shape{n}, dev);
                    column_sum(dev, gy, gb.data(), m, n);
                    ctx.set(2, gb);
                  }
                }),
           {&x, &w, &b});
  }
  return y;
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  require_defined("matmul", {&a, &b});
  const Device dev = common_device("matmul", {&a, &b});
  LUCID_CHECK_SHAPE(a.dim() == 2 && b.dim() == 2)
      << "matmul: 2-D inputs, got " << a.shape().str() << " and " << b.shape().str();
  const int m = static_cast<int>(trans_a ? a.size(1) : a.size(0));
  const int k = static_cast<int>(trans_a ? a.size(0) : a.size(1));
  const int kb = static_cast<int>(trans_b ? b.size(1) : b.size(0));
  const int n = static_cast<int>(trans_b ? b.size(0) : b.size(1));
  LUCID_CHECK_SHAPE(k == kb) << "matmul: inner sizes " << k << " and " << kb << " (" << a.shape().str()
                             << (trans_a ? "^T" : "") << " x " << b.shape().str() << (trans_b ? "^T" : "")
                             << ")";
  const int lda = static_cast<int>(a.size(1)), ldb = static_cast<int>(b.size(1));
  Tensor c = Tensor::empty(Shape{m, n}, dev);
  gemm_on(dev, trans_a, trans_b, m, n, k, a.data(), lda, b.data(), ldb, 0.f, c.data(), n);

  if (needs_record({&a, &b})) {
    Tensor as = saved(a), bs = saved(b);
    record(c,
           node("matmul",
                [as, bs, dev, trans_a, trans_b, m, n, k, lda, ldb](BackwardContext& ctx) {
                  const float* g = ctx.grad_out().data();  // m x n
                  if (ctx.needs(0)) {
                    // dA = g op(B)^T (m x k), stored transposed when A was used transposed.
                    Tensor ga = Tensor::empty(as.shape(), dev);
                    if (!trans_a)
                      gemm_on(dev, false, !trans_b, m, k, n, g, n, bs.data(), ldb, 0.f, ga.data(), lda);
                    else  // A^T = op(B) g^T  (k x m)
                      gemm_on(dev, trans_b, true, k, m, n, bs.data(), ldb, g, n, 0.f, ga.data(), lda);
                    ctx.set(0, ga);
                  }
                  if (ctx.needs(1)) {
                    // dB = op(A)^T g (k x n), or its transpose when B was used transposed.
                    Tensor gb = Tensor::empty(bs.shape(), dev);
                    if (!trans_b)
                      gemm_on(dev, !trans_a, false, k, n, m, as.data(), lda, g, n, 0.f, gb.data(), ldb);
                    else  // B^T... dB (n x k) = g^T op(A)
                      gemm_on(dev, true, trans_a, n, k, m, g, n, as.data(), lda, 0.f, gb.data(), ldb);
                    ctx.set(1, gb);
                  }
                }),
           {&a, &b});
  }
  return c;
}

Tensor ensemble_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  require_defined("ensemble_linear", {&x, &w});
  const Device dev = common_device("ensemble_linear", {&x, &w, &b});
  LUCID_CHECK_SHAPE(w.dim() == 3) << "ensemble_linear: W must be (E, out, in), got " << w.shape().str();
  const int e_count = static_cast<int>(w.size(0)), n = static_cast<int>(w.size(1)),
            k = static_cast<int>(w.size(2));
  const bool shared = x.dim() == 2;
  LUCID_CHECK_SHAPE((shared || (x.dim() == 3 && x.size(0) == e_count)) && x.size(-1) == k)
      << "ensemble_linear: x must be (B, " << k << ") or (" << e_count << ", B, " << k << "), got "
      << x.shape().str();
  LUCID_CHECK_SHAPE(!b.defined() || (b.dim() == 2 && b.size(0) == e_count && b.size(1) == n))
      << "ensemble_linear: bias must be (" << e_count << ", " << n << "), got " << b.shape().str();
  const int m = static_cast<int>(x.size(-2));
  Tensor y = Tensor::empty(Shape{e_count, m, n}, dev);
  const std::int64_t x_stride = shared ? 0 : static_cast<std::int64_t>(m) * k;
  const std::int64_t w_stride = static_cast<std::int64_t>(n) * k, y_stride = static_cast<std::int64_t>(m) * n;
  if (dev == Device::kCuda) {
    if (b.defined()) fill_rows(dev, y.data(), b.data(), e_count, m, n);
    gpu().gemm_strided_batched(false, true, m, n, k, 1.f, x.data(), k, x_stride, w.data(), k, w_stride,
                               b.defined() ? 1.f : 0.f, y.data(), n, y_stride, e_count, gpu().stream);
  }
  const bool small = use_small_gemm(m);
  for (int e = 0; dev == Device::kCpu && e < e_count; ++e) {
    const float* xe = x.data() + (shared ? 0 : static_cast<std::int64_t>(e) * m * k);
    float* ye = y.data() + static_cast<std::int64_t>(e) * m * n;
    if (small) {
      kernels::gemm_small_cpu(true, m, n, k, 1.f, xe, k, w.data() + static_cast<std::int64_t>(e) * n * k, k,
                              w.version(), 0.f, ye, n,
                              b.defined() ? b.data() + static_cast<std::int64_t>(e) * n : nullptr);
      continue;
    }
    if (b.defined()) fill_rows(dev, ye, b.data() + static_cast<std::int64_t>(e) * n, 1, m, n);
    gemm_rows(false, true, m, n, k, xe, k, w.data() + static_cast<std::int64_t>(e) * n * k, k,
              b.defined() ? 1.f : 0.f, ye, n);
  }

  if (needs_record({&x, &w, &b})) {
    Tensor xs = saved(x), ws = saved(w);
    const bool has_b = b.defined();
    record(y,
           node("ensemble_linear",
                [xs, ws, dev, has_b, shared, e_count, m, n, k, x_stride, w_stride,
                 y_stride](BackwardContext& ctx) {
                  const float* gy = ctx.grad_out().data();
                  const bool on_gpu = dev == Device::kCuda;
                  if (ctx.needs(0)) {
                    Tensor gx = Tensor::empty(xs.shape(), dev);
                    if (on_gpu && !shared) {  // gx_e = gy_e W_e for every member in one call
                      gpu().gemm_strided_batched(false, false, m, k, n, 1.f, gy, n, y_stride, ws.data(), k,
                                                 w_stride, 0.f, gx.data(), k, x_stride, e_count,
                                                 gpu().stream);
                    } else {  // a shared input sums every member's gradient: sequential accumulation
                      for (int e = 0; e < e_count; ++e)
                        input_grad_gemm(dev, m, n, k, gy + e * y_stride, ws.data() + e * w_stride,
                                        ws.version(), shared && e > 0 ? 1.f : 0.f, gx.data() + e * x_stride);
                    }
                    ctx.set(0, gx);
                  }
                  if (ctx.needs(1)) {
                    Tensor target = ctx.accumulate_target(1);
                    Tensor gw = target.defined() ? Tensor() : Tensor::empty(ws.shape(), dev);
                    if (on_gpu) {  // gW_e = gy_e^T x_e, all members in one call
                      ++autograd_stats().weight_grad_gemms;
                      float* out = target.defined() ? target.data() : gw.data();
                      gpu().gemm_strided_batched(true, false, n, k, m, 1.f, gy, n, y_stride, xs.data(), k,
                                                 x_stride, target.defined() ? 1.f : 0.f, out, k, w_stride,
                                                 e_count, gpu().stream);
                    }
                    for (int e = 0; !on_gpu && e < e_count; ++e)
                      weight_grad(dev, ctx, 1, gy + e * y_stride, xs.data() + e * x_stride, m, n, k,
                                  e * w_stride, &gw);
                    if (target.defined())
                      ctx.accumulated(1);
                    else
                      ctx.set(1, gw);
                  }
                  if (has_b && ctx.needs(2)) {
                    Tensor gb = Tensor::empty(Shape{e_count, n}, dev);
                    for (int e = 0; e < e_count; ++e)
                      column_sum(dev, gy + e * y_stride, gb.data() + e * n, m, n);
                    ctx.set(2, gb);
                  }
                }),
           {&x, &w, &b});
  }
  return y;
}

}  // namespace lucid
