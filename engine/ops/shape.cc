// Shape ops: reshape, concat / slice along the leading or last dim, gather along the leading dim.
// All copy (outputs are fresh, contiguous tensors) except reshape, which is a view. A copy is a set
// of equal-width row blocks (copy_rows): memcpy per row on the CPU, one strided-copy launch per
// input on CUDA (kernels/cuda/copy.cu).
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
// dst[r * dst_ld + c] = src[r * src_ld + c], r < rows, c < width, on `dev`.
void copy_rows(Device dev, const float* src, std::int64_t src_ld, float* dst, std::int64_t dst_ld,
               std::int64_t rows, std::int64_t width) {
  if (dev == Device::kCuda) {
    gpu().copy_rows(src, src_ld, dst, dst_ld, rows, width, gpu().stream);
    return;
  }
  for (std::int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + r * dst_ld, src + r * src_ld, static_cast<std::size_t>(width) * sizeof(float));
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
  for (const Tensor& x : xs) require_defined("concat", {&x});
  const Device dev = common_device("concat", xs);
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
  Tensor y = Tensor::empty(Shape(out_dims), dev);
  const std::int64_t outer = d == 0 ? 1 : y.shape().rows(), out_width = d == 0 ? y.numel() : y.shape().cols();
  std::vector<std::int64_t> offsets;
  std::int64_t off = 0;
  for (const Tensor& x : xs) {
    const Split s = split_of(x, d);
    copy_rows(dev, x.data(), s.width, y.data() + off, out_width, outer, s.width);
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
                [shapes, offsets, dev, outer, out_width, d](BackwardContext& ctx) {
                  const float* g = ctx.grad_out().data();
                  for (std::size_t i = 0; i < shapes.size(); ++i) {
                    if (!ctx.needs(static_cast<int>(i))) continue;
                    Tensor gx = Tensor::empty(shapes[i], dev);
                    const std::int64_t width = d == 0 ? gx.numel() : gx.shape().cols();
                    copy_rows(dev, g + offsets[i], out_width, gx.data(), width, outer, width);
                    ctx.set(static_cast<int>(i), gx);
                  }
                }),
           xs);
  }
  return y;
}

Tensor slice(const Tensor& x, int dim, std::int64_t begin, std::int64_t end) {
  require_defined("slice", {&x});
  const Device dev = x.device();
  LUCID_CHECK_SHAPE(x.dim() >= 1) << "slice of a scalar";
  const int d = norm_dim("slice", dim, x.dim());
  const int axis = d == 0 ? 0 : x.dim() - 1;
  LUCID_CHECK_SHAPE(0 <= begin && begin <= end && end <= x.size(axis))
      << "slice [" << begin << ", " << end << ") of dim " << axis << " of " << x.shape().str();
  std::vector<std::int64_t> out_dims = x.shape().vec();
  out_dims[axis] = end - begin;
  Tensor y = Tensor::empty(Shape(out_dims), dev);
  // Rows of `in_width` floats in x; each contributes `width` floats starting at `start`.
  const std::int64_t inner = d == 0 ? (x.size(0) ? x.numel() / x.size(0) : 0) : 1;
  const std::int64_t outer = d == 0 ? 1 : x.shape().rows();
  const std::int64_t in_width = d == 0 ? x.numel() : x.shape().cols();
  const std::int64_t start = begin * inner, width = (end - begin) * inner;
  copy_rows(dev, x.data() + start, in_width, y.data(), width, outer, width);
  if (needs_record({&x})) {
    const Shape in_shape = x.shape();
    record(y,
           node("slice",
                [in_shape, dev, outer, in_width, start, width](BackwardContext& ctx) {
                  Tensor gx = Tensor::zeros(in_shape, dev);
                  copy_rows(dev, ctx.grad_out().data(), width, gx.data() + start, in_width, outer, width);
                  ctx.set(0, gx);
                }),
           {&x});
  }
  return y;
}

Tensor gather_rows(const Tensor& x, const std::vector<std::int64_t>& index) {
  require_defined("gather_rows", {&x});
  const Device dev = x.device();
  LUCID_CHECK_SHAPE(x.dim() >= 1) << "gather_rows of a scalar";
  const std::int64_t n = x.size(0), inner = n ? x.numel() / n : 0;
  std::vector<std::int64_t> out_dims = x.shape().vec();
  out_dims[0] = static_cast<std::int64_t>(index.size());
  Tensor y = Tensor::empty(Shape(out_dims), dev);
  for (std::size_t i = 0; i < index.size(); ++i)
    LUCID_CHECK_SHAPE(0 <= index[i] && index[i] < n)
        << "gather_rows: index " << index[i] << " out of [0, " << n << ")";
  const auto count = static_cast<std::int64_t>(index.size());
  if (dev == Device::kCuda)
    gpu().gather_rows(x.data(), n, inner, index.data(), count, y.data(), gpu().stream);
  for (std::size_t i = 0; dev == Device::kCpu && i < index.size(); ++i)
    std::memcpy(y.data() + i * inner, x.data() + index[i] * inner, inner * sizeof(float));
  if (needs_record({&x})) {
    const Shape in_shape = x.shape();
    record(y,
           node("gather_rows",
                [in_shape, dev, index, n, count, inner](BackwardContext& ctx) {
                  Tensor gx = Tensor::zeros(in_shape, dev);
                  const float* g = ctx.grad_out().data();
                  if (dev == Device::kCuda) {
                    gpu().scatter_add_rows(g, count, inner, index.data(), n, gx.data(), gpu().stream);
                    ctx.set(0, gx);
                    return;
                  }
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
