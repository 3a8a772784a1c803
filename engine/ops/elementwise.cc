// Elementwise ops: unary activations and broadcasting arithmetic, on the CPU kernels
// (kernels/cpu/elementwise.cc) or, for CUDA tensors, their twins in kernels/cuda/elementwise.cu.
#include "lucid/kernels/elementwise.h"

#include <cmath>

#include "lucid/engine/ops.h"
#include "op_util.h"

namespace lucid {
using namespace ops_detail;
using kernels::BinaryOp;
using kernels::UnaryOp;

namespace {

Tensor unary(const char* name, UnaryOp op, const Tensor& x, float a = 0.f, float b = 0.f) {
  require_defined(name, {&x});
  const Device dev = x.device();
  Tensor y = Tensor::empty(x.shape(), dev);
  if (dev == Device::kCuda)
    gpu().unary_forward(op, x.data(), y.data(), x.numel(), a, b, gpu().stream);
  else
    kernels::unary_forward_cpu(op, x.data(), y.data(), x.numel(), a, b);
  if (needs_record({&x})) {
    Tensor xs = saved(x), ys = saved(y);
    record(y,
           node(name,
                [xs, ys, op, a, b](BackwardContext& ctx) {
                  Tensor gx = Tensor::empty(xs.shape(), xs.device());
                  if (xs.device() == Device::kCuda)
                    gpu().unary_backward(op, xs.data(), ys.data(), ctx.grad_out().data(), gx.data(),
                                         xs.numel(), a, b, gpu().stream);
                  else
                    kernels::unary_backward_cpu(op, xs.data(), ys.data(), ctx.grad_out().data(), gx.data(),
                                                xs.numel(), a, b);
                  ctx.set(0, gx);
                }),
           {&x});
  }
  return y;
}

Shape broadcast_shape(const char* name, const Shape& a, const Shape& b) {
  const int n = std::max(a.dim(), b.dim());
  std::vector<std::int64_t> out(n);
  for (int i = 0; i < n; ++i) {
    const int ia = i - (n - a.dim()), ib = i - (n - b.dim());
    const std::int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    LUCID_CHECK_SHAPE(da == db || da == 1 || db == 1)
        << name << ": shapes " << a.str() << " and " << b.str() << " do not broadcast";
    out[i] = da == 1 ? db : da;
  }
  return Shape(out);
}

Tensor binary(const char* name, BinaryOp op, const Tensor& a, const Tensor& b) {
  require_defined(name, {&a, &b});
  const bool dev_cuda = on_cuda(name, {&a, &b});
  const Shape out_shape = broadcast_shape(name, a.shape(), b.shape());
  Tensor y = Tensor::empty(out_shape, a.device());
  if (dev_cuda)
    gpu().binary_forward(op, a.data(), dims4(a.shape()), b.data(), dims4(b.shape()), y.data(),
                         dims4(out_shape), gpu().stream);
  else
    kernels::binary_forward_cpu(op, a.data(), dims4(a.shape()), b.data(), dims4(b.shape()), y.data(),
                                dims4(out_shape));
  if (needs_record({&a, &b})) {
    Tensor as = saved(a), bs = saved(b);
    record(y,
           node(name,
                [as, bs, op, out_shape](BackwardContext& ctx) {
                  const Device d = as.device();
                  Tensor ga = ctx.needs(0) ? Tensor::empty(as.shape(), d) : Tensor();
                  Tensor gb = ctx.needs(1) ? Tensor::empty(bs.shape(), d) : Tensor();
                  float* pa = ga.defined() ? ga.data() : nullptr;
                  float* pb = gb.defined() ? gb.data() : nullptr;
                  if (d == Device::kCuda)
                    gpu().binary_backward(op, as.data(), dims4(as.shape()), bs.data(), dims4(bs.shape()),
                                          ctx.grad_out().data(), dims4(out_shape), pa, pb, gpu().stream);
                  else
                    kernels::binary_backward_cpu(op, as.data(), dims4(as.shape()), bs.data(),
                                                 dims4(bs.shape()), ctx.grad_out().data(), dims4(out_shape),
                                                 pa, pb);
                  if (ga.defined()) ctx.set(0, ga);
                  if (gb.defined()) ctx.set(1, gb);
                }),
           {&a, &b});
  }
  return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary("add", BinaryOp::kAdd, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary("sub", BinaryOp::kSub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary("mul", BinaryOp::kMul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary("div", BinaryOp::kDiv, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary("minimum", BinaryOp::kMin, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary("maximum", BinaryOp::kMax, a, b); }
Tensor add(const Tensor& a, float s) { return unary("add_scalar", UnaryOp::kAffine, a, 1.f, s); }
Tensor mul(const Tensor& a, float s) { return unary("mul_scalar", UnaryOp::kAffine, a, s, 0.f); }
Tensor neg(const Tensor& a) { return unary("neg", UnaryOp::kAffine, a, -1.f, 0.f); }
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }

Tensor exp(const Tensor& x) { return unary("exp", UnaryOp::kExp, x); }
Tensor log(const Tensor& x) { return unary("log", UnaryOp::kLog, x); }
Tensor tanh(const Tensor& x) { return unary("tanh", UnaryOp::kTanh, x); }
Tensor sigmoid(const Tensor& x) { return unary("sigmoid", UnaryOp::kSigmoid, x); }
Tensor softplus(const Tensor& x) { return unary("softplus", UnaryOp::kSoftplus, x); }
Tensor relu(const Tensor& x) { return unary("relu", UnaryOp::kRelu, x); }
Tensor elu(const Tensor& x, float alpha) { return unary("elu", UnaryOp::kElu, x, alpha); }
Tensor mish(const Tensor& x) { return unary("mish", UnaryOp::kMish, x); }
Tensor square(const Tensor& x) { return unary("square", UnaryOp::kSquare, x); }
Tensor sqrt(const Tensor& x) { return unary("sqrt", UnaryOp::kSqrt, x); }
Tensor clamp(const Tensor& x, float lo, float hi) {
  LUCID_CHECK(lo <= hi) << "clamp: lo " << lo << " > hi " << hi;
  return unary("clamp", UnaryOp::kClamp, x, lo, hi);
}
Tensor symlog(const Tensor& x) { return unary("symlog", UnaryOp::kSymlog, x); }
Tensor symexp(const Tensor& x) { return unary("symexp", UnaryOp::kSymexp, x); }

}  // namespace lucid
