// Shape ops: reshape, concat / slice along the leading or last dim, gather along the leading dim.
// All copy (outputs are fresh, contiguous tensors) except reshape, which is a view.
#include <algorithm>
#include <cstring>

#include "lucid/engine/ops.h"
#include "op_util.h"

namespace lucid {
using namespace ops_detail;

Tensor reshape(const Tensor& x, const Shape& shape) {
  require_defined("reshape", {&x});
  LUCID_CHECK_SHAPE(shape.numel() == x.numel()) << "reshape " << x.shape().str() << " to " << shape.str();
  Tensor y = x.view(shape);
  if (needs_record({&x})) {
    const Shape in_shape = x.shape();
    record(y,
           node("reshape", [in_shape](BackwardContext& ctx) { ctx.set(0, ctx.grad_out().view(in_shape)); }),
           {&x});
  }
  return y;
}

namespace {
// A tensor seen as outer x inner blocks split at `dim` (0: outer = 1; -1: inner = 1 row of cols).
struct Split {
  std::int64_t outer, width;  // copy `width` floats from each of `outer` rows
};
Split split_of(const Tensor& t, int dim) {
  return dim == 0 ? Split{1, t.numel()} : Split{t.shape().rows(), t.shape().cols()};
}
int norm_dim(const char* name, int dim, int ndim) {
  LUCID_CHECK_SHAPE(dim == 0 || dim == -1 || dim == ndim - 1)
      << name << ": only the leading (0) or last (-1) dim is supported, got " << dim;
  return (dim == 0 && ndim > 1) || (ndim == 1 && dim == 0) ? 0 : -1;
}
}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  LUCID_CHECK(!xs.empty()) << "concat of nothing";
  const Tensor& x0 = xs[0];
  for (const Tensor& x : xs) {
    require_defined("concat", {&x});
    require_cpu("concat", {&x});
  }
  const int d = norm_dim("concat", dim, x0.dim());
  const int axis = d == 0 ? 0 : x0.dim() - 1;
  std::vector<std::int64_t> out_dims = x0.shape().vec();
  out_dims[axis] = 0;
  for (const Tensor& x : xs) {
    bool ok = x.dim() == x0.dim();
    for (int i = 0; ok && i < x.dim(); ++i) ok = i == axis || x.size(i) == x0.size(i);
    LUCID_CHECK_SHAPE(ok) << "concat along dim " << dim << ": " << x.shape().str() << " vs "
                          << x0.shape().str();
    out_dims[axis] += x.size(axis);
  }
  Tensor y = Tensor::empty(Shape(out_dims));
  const std::int64_t outer = d == 0 ? 1 : y.shape().rows(), out_width = d == 0 ? y.numel() : y.shape().cols();
  std::vector<std::int64_t> offsets;
  std::int64_t off = 0;
  for (const Tensor& x : xs) {
    const Split s = split_of(x, d);
    for (std::int64_t r = 0; r < outer; ++r)
      std::memcpy(y.data() + r * out_width + off, x.data() + r * s.width, s.width * sizeof(float));
    offsets.push_back(off);
    off += s.width;
  }
  bool any = false;
  for (const Tensor& x : xs) any = any || x.requires_grad();
  if (grad_enabled() && any) {
    std::vector<Shape> shapes;
    for (const Tensor& x : xs) shapes.push_back(x.shape());
    record(y,
           node("concat",
                [shapes, offsets, outer, out_width, d](BackwardContext& ctx) {
                  const float* g = ctx.grad_out().data();
                  for (std::size_t i = 0; i < shapes.size(); ++i) {
                    if (!ctx.needs(static_cast<int>(i))) continue;
                    Tensor gx = Tensor::empty(shapes[i]);
                    const std::int64_t width = d == 0 ? gx.numel() : gx.shape().cols();
                    for (std::int64_t r = 0; r < outer; ++r)
                      std::memcpy(gx.data() + r * width, g + r * out_width + offsets[i],
                                  width * sizeof(float));
                    ctx.set(static_cast<int>(i), gx);
                  }
                }),
           xs);
  }
  return y;
}

Tensor slice(const Tensor& x, int dim, std::int64_t begin, std::int64_t end) {
  require_defined("slice", {&x});
  require_cpu("slice", {&x});
  LUCID_CHECK_SHAPE(x.dim() >= 1) << "slice of a scalar";
  const int d = norm_dim("slice", dim, x.dim());
  const int axis = d == 0 ? 0 : x.dim() - 1;
  LUCID_CHECK_SHAPE(0 <= begin && begin <= end && end <= x.size(axis))
      << "slice [" << begin << ", " << end << ") of dim " << axis << " of " << x.shape().str();
  std::vector<std::int64_t> out_dims = x.shape().vec();
  out_dims[axis] = end - begin;
  Tensor y = Tensor::empty(Shape(out_dims));
  // Rows of `in_width` floats in x; each contributes `width` floats starting at `start`.
  const std::int64_t inner = d == 0 ? (x.size(0) ? x.numel() / x.size(0) : 0) : 1;
  const std::int64_t outer = d == 0 ? 1 : x.shape().rows();
  const std::int64_t in_width = d == 0 ? x.numel() : x.shape().cols();
  const std::int64_t start = begin * inner, width = (end - begin) * inner;
  for (std::int64_t r = 0; r < outer; ++r)
    std::memcpy(y.data() + r * width, x.data() + r * in_width + start, width * sizeof(float));
  if (needs_record({&x})) {
    const Shape in_shape = x.shape();
    record(y,
           node("slice",
                [in_shape, outer, in_width, start, width](BackwardContext& ctx) {
                  Tensor gx = Tensor::zeros(in_shape);
                  const float* g = ctx.grad_out().data();
                  for (std::int64_t r = 0; r < outer; ++r)
                    std::memcpy(gx.data() + r * in_width + start, g + r * width, width * sizeof(float));
                  ctx.set(0, gx);
                }),
           {&x});
  }
  return y;
}

Tensor gather_rows(const Tensor& x, const std::vector<std::int64_t>& index) {
  require_defined("gather_rows", {&x});
  require_cpu("gather_rows", {&x});
  LUCID_CHECK_SHAPE(x.dim() >= 1) << "gather_rows of a scalar";
  const std::int64_t n = x.size(0), inner = n ? x.numel() / n : 0;
  std::vector<std::int64_t> out_dims = x.shape().vec();
  out_dims[0] = static_cast<std::int64_t>(index.size());
  Tensor y = Tensor::empty(Shape(out_dims));
  for (std::size_t i = 0; i < index.size(); ++i) {
    LUCID_CHECK_SHAPE(0 <= index[i] && index[i] < n)
        << "gather_rows: index " << index[i] << " out of [0, " << n << ")";
    std::memcpy(y.data() + i * inner, x.data() + index[i] * inner, inner * sizeof(float));
  }
  if (needs_record({&x})) {
    const Shape in_shape = x.shape();
    record(y,
           node("gather_rows",
                [in_shape, index, inner](BackwardContext& ctx) {
                  Tensor gx = Tensor::zeros(in_shape);
                  const float* g = ctx.grad_out().data();
                  for (std::size_t i = 0; i < index.size(); ++i)  // scatter-add: an index may repeat
                    for (std::int64_t c = 0; c < inner; ++c)
                      gx.data()[index[i] * inner + c] += g[i * inner + c];
                  ctx.set(0, gx);
                }),
           {&x});
  }
  return y;
}

}  // namespace lucid
