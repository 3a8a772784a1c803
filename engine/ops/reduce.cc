// Reductions: over everything, the last dim, or the leading dim; max/min along the last dim. CUDA
// tensors run kernels/cuda/reduce.cu (forward) and expand / scatter_last (backward).
#include "lucid/kernels/reduce.h"

#include <algorithm>

#include "lucid/engine/ops.h"
#include "op_util.h"

namespace lucid {
using namespace ops_detail;
using kernels::ReduceOp;

namespace {

// Sum over the last `cols` of rows x cols (cols = numel for a full reduction), times `scale`.
Tensor sum_rows(const char* name, const Tensor& x, std::int64_t rows, std::int64_t cols,
                const Shape& out_shape, float scale) {
  require_defined(name, {&x});
  const Device dev = x.device();
  Tensor y = Tensor::empty(out_shape, dev);
  if (dev == Device::kCuda) {
    gpu().reduce_last(ReduceOp::kSum, x.data(), y.data(), nullptr, rows, cols, gpu().stream);
    if (scale != 1.f) gpu().scale(y.data(), static_cast<std::size_t>(rows), scale, gpu().stream);
  } else {
    kernels::reduce_last_cpu(ReduceOp::kSum, x.data(), y.data(), nullptr, rows, cols);
    if (scale != 1.f)
      for (std::int64_t r = 0; r < rows; ++r) y.data()[r] *= scale;
  }
  if (needs_record({&x})) {
    const Shape in_shape = x.shape();
    record(y,
           node(name,
                [in_shape, dev, rows, cols, scale](BackwardContext& ctx) {
                  Tensor gx = Tensor::empty(in_shape, dev);
                  const float* g = ctx.grad_out().data();
                  if (dev == Device::kCuda) {  // gx[r, c] = scale * g[r]
                    gpu().expand(g, kernels::Dims4{{1, 1, rows, 1}}, gx.data(),
                                 kernels::Dims4{{1, 1, rows, cols}}, scale, gpu().stream);
                  } else {
                    float* o = gx.data();
                    for (std::int64_t r = 0; r < rows; ++r)
                      std::fill(o + r * cols, o + (r + 1) * cols, g[r] * scale);
                  }
                  ctx.set(0, gx);
                }),
           {&x});
  }
  return y;
}

Tensor sum_leading_impl(const char* name, const Tensor& x, float scale) {
  require_defined(name, {&x});
  LUCID_CHECK_SHAPE(x.dim() >= 1) << name << ": needs at least 1 dim";
  const Device dev = x.device();
  const std::int64_t rows = x.size(0), cols = rows ? x.numel() / rows : 0;
  std::vector<std::int64_t> d = x.shape().vec();
  d.erase(d.begin());
  Tensor y = Tensor::empty(Shape(d), dev);
  if (dev == Device::kCuda) {
    gpu().reduce_leading_sum(x.data(), y.data(), rows, cols, gpu().stream);
    if (scale != 1.f) gpu().scale(y.data(), static_cast<std::size_t>(cols), scale, gpu().stream);
  } else {
    kernels::reduce_leading_sum_cpu(x.data(), y.data(), rows, cols);
    if (scale != 1.f)
      for (std::int64_t c = 0; c < cols; ++c) y.data()[c] *= scale;
  }
  if (needs_record({&x})) {
    const Shape in_shape = x.shape();
    record(y,
           node(name,
                [in_shape, dev, rows, cols, scale](BackwardContext& ctx) {
                  Tensor gx = Tensor::empty(in_shape, dev);
                  const float* g = ctx.grad_out().data();
                  if (dev == Device::kCuda) {  // gx[r, c] = scale * g[c]
                    gpu().expand(g, kernels::Dims4{{1, 1, 1, cols}}, gx.data(),
                                 kernels::Dims4{{1, 1, rows, cols}}, scale, gpu().stream);
                  } else {
                    for (std::int64_t r = 0; r < rows; ++r)
                      for (std::int64_t c = 0; c < cols; ++c) gx.data()[r * cols + c] = g[c] * scale;
                  }
                  ctx.set(0, gx);
                }),
           {&x});
  }
  return y;
}

Shape last_reduced(const Tensor& x, bool keepdim) {
  return keepdim ? with_last(x.shape(), 1) : without_last(x.shape());
}

Tensor extremum_last(const char* name, ReduceOp op, const Tensor& x, bool keepdim) {
  require_defined(name, {&x});
  LUCID_CHECK_SHAPE(x.dim() >= 1 && x.shape().cols() > 0)
      << name << ": empty last dim in " << x.shape().str();
  const Device dev = x.device();
  const std::int64_t rows = x.shape().rows(), cols = x.shape().cols();
  Tensor y = Tensor::empty(last_reduced(x, keepdim), dev);
  // The arg-extremum per row, saved for backward: host int64s on the CPU; on CUDA a device array
  // of int64s held in a float tensor's storage (2 floats per index), so it lives in the caching
  // allocator like every other device buffer.
  auto arg = std::make_shared<std::vector<std::int64_t>>(dev == Device::kCpu ? rows : 0);
  Tensor arg_dev = dev == Device::kCuda ? Tensor::empty(Shape{2 * rows}, dev) : Tensor();
  if (dev == Device::kCuda)
    gpu().reduce_last(op, x.data(), y.data(), reinterpret_cast<std::int64_t*>(arg_dev.data()), rows, cols,
                      gpu().stream);
  else
    kernels::reduce_last_cpu(op, x.data(), y.data(), arg->data(), rows, cols);
  if (needs_record({&x})) {
    const Shape in_shape = x.shape();
    record(y,
           node(name,
                [in_shape, dev, arg, arg_dev, rows, cols](BackwardContext& ctx) {
                  const float* g = ctx.grad_out().data();
                  if (dev == Device::kCuda) {
                    Tensor gx = Tensor::empty(in_shape, dev);
                    gpu().scatter_last(g, reinterpret_cast<const std::int64_t*>(arg_dev.data()), gx.data(),
                                       rows, cols, gpu().stream);
                    ctx.set(0, gx);
                    return;
                  }
                  Tensor gx = Tensor::zeros(in_shape);
                  for (std::int64_t r = 0; r < rows; ++r) gx.data()[r * cols + (*arg)[r]] = g[r];
                  ctx.set(0, gx);
                }),
           {&x});
  }
  return y;
}

}  // namespace

Tensor sum(const Tensor& x) { return sum_rows("sum", x, 1, x.numel(), Shape{}, 1.f); }
Tensor mean(const Tensor& x) {
  LUCID_CHECK_SHAPE(x.numel() > 0) << "mean of an empty tensor";
  return sum_rows("mean", x, 1, x.numel(), Shape{}, 1.f / static_cast<float>(x.numel()));
}
Tensor sum_last(const Tensor& x, bool keepdim) {
  LUCID_CHECK_SHAPE(x.dim() >= 1) << "sum_last: needs at least 1 dim";
  return sum_rows("sum_last", x, x.shape().rows(), x.shape().cols(), last_reduced(x, keepdim), 1.f);
}
Tensor mean_last(const Tensor& x, bool keepdim) {
  LUCID_CHECK_SHAPE(x.dim() >= 1 && x.shape().cols() > 0) << "mean_last: empty last dim";
  return sum_rows("mean_last", x, x.shape().rows(), x.shape().cols(), last_reduced(x, keepdim),
                  1.f / static_cast<float>(x.shape().cols()));
}
Tensor sum_leading(const Tensor& x) { return sum_leading_impl("sum_leading", x, 1.f); }
Tensor mean_leading(const Tensor& x) {
  LUCID_CHECK_SHAPE(x.dim() >= 1 && x.size(0) > 0) << "mean_leading: empty leading dim";
  return sum_leading_impl("mean_leading", x, 1.f / static_cast<float>(x.size(0)));
}
Tensor max_last(const Tensor& x, bool keepdim) {
  return extremum_last("max_last", ReduceOp::kMax, x, keepdim);
}
Tensor min_last(const Tensor& x, bool keepdim) {
  return extremum_last("min_last", ReduceOp::kMin, x, keepdim);
}

}  // namespace lucid
