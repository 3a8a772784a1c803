// Row ops over the last dim: LayerNorm (+ fused Mish), softmax, log-softmax, SimNorm, on the CPU
// kernels or (CUDA tensors) kernels/cuda/layernorm.cu and softmax.cu.
#include "lucid/engine/ops.h"
#include "lucid/kernels/layernorm.h"
#include "lucid/kernels/softmax.h"
#include "op_util.h"

namespace lucid {
using namespace ops_detail;
namespace {

// gamma/beta are (cols), or (G, cols) with x (G, ..., cols): G groups of rows (ensemble members)
// each with its own affine parameters, as in a stacked ensemble of NormedLinear layers.
Tensor layernorm_impl(const char* name, const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                      bool fuse_mish) {
  require_defined(name, {&x, &gamma, &beta});
  const bool dev_cuda = on_cuda(name, {&x, &gamma, &beta});
  const Device dev = x.device();
  const std::int64_t cols = x.shape().cols(), rows = x.shape().rows();
  const bool grouped = gamma.dim() == 2;
  const std::int64_t groups = grouped ? gamma.size(0) : 1;
  LUCID_CHECK_SHAPE(x.dim() >= 1 && gamma.shape() == beta.shape() && gamma.shape().cols() == cols &&
                    (!grouped || (x.dim() >= 2 && x.size(0) == groups)) && gamma.dim() <= 2)
      << name << ": x " << x.shape().str() << ", gamma " << gamma.shape().str() << ", beta "
      << beta.shape().str() << " (gamma/beta must be (cols) or (x.size(0), cols))";
  const std::int64_t group_rows = rows / groups;
  Tensor y = Tensor::empty(x.shape(), dev);
  Tensor mean = Tensor::empty(Shape{rows}, dev), rstd = Tensor::empty(Shape{rows}, dev);
  if (dev_cuda)  // groups are ensemble members: one launch, member g's rows use row g of gamma/beta
    gpu().ensemble_layernorm_forward(x.data(), nullptr, gamma.data(), beta.data(), y.data(), mean.data(),
                                     rstd.data(), groups, group_rows, cols, eps, fuse_mish, gpu().stream);
  for (std::int64_t g = 0; !dev_cuda && g < groups; ++g) {
    const std::int64_t r0 = g * group_rows;
    kernels::layernorm_forward_cpu(x.data() + r0 * cols, gamma.data() + g * cols, beta.data() + g * cols,
                                   y.data() + r0 * cols, mean.data() + r0, rstd.data() + r0, group_rows, cols,
                                   eps, fuse_mish);
  }
  if (needs_record({&x, &gamma, &beta})) {
    Tensor xs = saved(x), gs = saved(gamma), bs = saved(beta);
    record(y,
           node(name,
                [xs, gs, bs, mean, rstd, groups, group_rows, cols, fuse_mish](BackwardContext& ctx) {
                  const Device d = xs.device();
                  const bool params = ctx.needs(1) || ctx.needs(2);
                  Tensor gx = ctx.needs(0) ? Tensor::empty(xs.shape(), d) : Tensor();
                  Tensor tg = ctx.accumulate_target(1), tb = ctx.accumulate_target(2);
                  const bool in_place =
                      params && tg.defined() && tb.defined() && ctx.needs(1) && ctx.needs(2);
                  Tensor dg, db;
                  if (params) {
                    dg = in_place ? tg : Tensor::zeros(gs.shape(), d);
                    db = in_place ? tb : Tensor::zeros(bs.shape(), d);
                  }
                  const float* gy = ctx.grad_out().data();
                  if (d == Device::kCuda)  // dgamma/dbeta accumulate (+=), as on the CPU
                    gpu().ensemble_layernorm_backward(
                        xs.data(), nullptr, gs.data(), bs.data(), mean.data(), rstd.data(), gy,
                        gx.defined() ? gx.data() : nullptr, nullptr, params ? dg.data() : nullptr,
                        params ? db.data() : nullptr, groups, group_rows, cols, fuse_mish, gpu().stream);
                  for (std::int64_t g = 0; d == Device::kCpu && g < groups; ++g) {
                    const std::int64_t r0 = g * group_rows;
                    kernels::layernorm_backward_cpu(
                        xs.data() + r0 * cols, gs.data() + g * cols, bs.data() + g * cols, mean.data() + r0,
                        rstd.data() + r0, gy + r0 * cols, gx.defined() ? gx.data() + r0 * cols : nullptr,
                        params ? dg.data() + g * cols : nullptr, params ? db.data() + g * cols : nullptr,
                        group_rows, cols, fuse_mish);
                  }
                  if (gx.defined()) ctx.set(0, gx);
                  if (in_place) {
                    ctx.accumulated(1);
                    ctx.accumulated(2);
                  } else {
                    if (ctx.needs(1)) ctx.set(1, dg);
                    if (ctx.needs(2)) ctx.set(2, db);
                  }
                }),
           {&x, &gamma, &beta});
  }
  return y;
}

// CUDA only: act(LN(x + bias)) with per-group bias/gamma/beta in one launch each way. Parameter
// gradients accumulate (+=) straight into the arena when the tape offers a target, else into
// zeroed buffers; dbias is the column sum of gx, so gx is always computed.
Tensor bias_layernorm_cuda(const Tensor& x, const Tensor& bias, const Tensor& gamma, const Tensor& beta,
                           float eps, bool fuse_mish) {
  const std::int64_t cols = x.shape().cols(), rows = x.shape().rows();
  const std::int64_t groups = gamma.dim() == 2 ? gamma.size(0) : 1, group_rows = rows / groups;
  Tensor y = Tensor::empty(x.shape(), Device::kCuda);
  Tensor mean = Tensor::empty(Shape{rows}, Device::kCuda), rstd = Tensor::empty(Shape{rows}, Device::kCuda);
  gpu().ensemble_layernorm_forward(x.data(), bias.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                                   rstd.data(), groups, group_rows, cols, eps, fuse_mish, gpu().stream);
  if (needs_record({&x, &bias, &gamma, &beta})) {
    Tensor xs = saved(x), bs = saved(bias), gs = saved(gamma), be = saved(beta);
    record(y,
           node(fuse_mish ? "bias_layernorm_mish" : "bias_layernorm",
                [xs, bs, gs, be, mean, rstd, groups, group_rows, cols, fuse_mish](BackwardContext& ctx) {
                  Tensor gx = Tensor::empty(xs.shape(), Device::kCuda);
                  const bool params = ctx.needs(1) || ctx.needs(2) || ctx.needs(3);
                  Tensor buf[3];
                  bool in_place[3] = {false, false, false};
                  for (int i = 0; params && i < 3; ++i) {
                    const Tensor target = ctx.accumulate_target(i + 1);
                    in_place[i] = ctx.needs(i + 1) && target.defined();
                    buf[i] = in_place[i] ? target : Tensor::zeros(gs.shape(), Device::kCuda);
                  }
                  gpu().ensemble_layernorm_backward(
                      xs.data(), bs.data(), gs.data(), be.data(), mean.data(), rstd.data(),
                      ctx.grad_out().data(), gx.data(), params ? buf[0].data() : nullptr,
                      params ? buf[1].data() : nullptr, params ? buf[2].data() : nullptr, groups, group_rows,
                      cols, fuse_mish, gpu().stream);
                  if (ctx.needs(0)) ctx.set(0, gx);
                  for (int i = 0; params && i < 3; ++i) {
                    if (in_place[i])
                      ctx.accumulated(i + 1);
                    else if (ctx.needs(i + 1))
                      ctx.set(i + 1, buf[i]);
                  }
                }),
           {&x, &bias, &gamma, &beta});
  }
  return y;
}

Tensor softmax_impl(const char* name, const Tensor& x, std::int64_t group, bool log_sm) {
  require_defined(name, {&x});
  const Device dev = x.device();
  LUCID_CHECK_SHAPE(x.dim() >= 1 && group > 0 && x.shape().cols() % group == 0)
      << name << ": last dim of " << x.shape().str() << " is not a multiple of " << group;
  const std::int64_t rows = x.numel() / group;
  Tensor y = Tensor::empty(x.shape(), dev);
  // SimNorm (group < cols) and softmax are the same computation over rows of `group` features;
  // the CUDA side picks the launch shape for the group width.
  if (dev == Device::kCuda)
    gpu().softmax_forward(x.data(), y.data(), rows, group, log_sm, gpu().stream);
  else
    kernels::softmax_forward_cpu(x.data(), y.data(), rows, group, log_sm);
  if (needs_record({&x})) {
    Tensor ys = saved(y);
    record(y,
           node(name,
                [ys, rows, group, log_sm](BackwardContext& ctx) {
                  Tensor gx = Tensor::empty(ys.shape(), ys.device());
                  if (ys.device() == Device::kCuda)
                    gpu().softmax_backward(ys.data(), ctx.grad_out().data(), gx.data(), rows, group, log_sm,
                                           gpu().stream);
                  else
                    kernels::softmax_backward_cpu(ys.data(), ctx.grad_out().data(), gx.data(), rows, group,
                                                  log_sm);
                  ctx.set(0, gx);
                }),
           {&x});
  }
  return y;
}

}  // namespace

Tensor layernorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  return layernorm_impl("layernorm", x, gamma, beta, eps, false);
}
Tensor layernorm_mish(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  return layernorm_impl("layernorm_mish", x, gamma, beta, eps, true);
}
Tensor bias_layernorm(const Tensor& x, const Tensor& bias, const Tensor& gamma, const Tensor& beta, bool mish,
                      float eps) {
  const char* name = mish ? "bias_layernorm_mish" : "bias_layernorm";
  require_defined(name, {&x, &bias, &gamma, &beta});
  LUCID_CHECK_SHAPE(bias.shape() == gamma.shape())
      << name << ": bias " << bias.shape().str() << " must be shaped like gamma " << gamma.shape().str();
  if (!on_cuda(name, {&x, &bias, &gamma, &beta})) {
    // Per-member bias (E, cols) against x (E, ..., cols): broadcast as (E, 1, ..., 1, cols).
    Tensor b = bias;
    if (bias.dim() == 2 && x.dim() > 2) {
      std::vector<std::int64_t> d(static_cast<std::size_t>(x.dim()), 1);
      d.front() = bias.size(0);
      d.back() = bias.size(1);
      b = reshape(bias, Shape(d));
    }
    return layernorm_impl(name, add(x, b), gamma, beta, eps, mish);
  }
  // The CPU call above validates shapes inside layernorm_impl; here the same checks up front.
  const bool grouped = gamma.dim() == 2;
  LUCID_CHECK_SHAPE(x.dim() >= 1 && gamma.shape() == beta.shape() &&
                    gamma.shape().cols() == x.shape().cols() &&
                    (!grouped || (x.dim() >= 2 && x.size(0) == gamma.size(0))) && gamma.dim() <= 2)
      << name << ": x " << x.shape().str() << ", gamma " << gamma.shape().str() << ", beta "
      << beta.shape().str() << " (gamma/beta must be (cols) or (x.size(0), cols))";
  return bias_layernorm_cuda(x, bias, gamma, beta, eps, mish);
}

Tensor softmax(const Tensor& x) { return softmax_impl("softmax", x, x.shape().cols(), false); }
Tensor log_softmax(const Tensor& x) { return softmax_impl("log_softmax", x, x.shape().cols(), true); }
Tensor simnorm(const Tensor& x, int group) { return softmax_impl("simnorm", x, group, false); }

}  // namespace lucid
