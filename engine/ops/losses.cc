// TD-MPC2's discrete regression (two-hot, fused soft cross-entropy, decode), losses, the
// tanh-squashed Gaussian log-prob pieces, and dropout. Composite ops are built from the
// differentiable primitives, so their gradients come for free and are tested through them.
// CUDA tensors run the fused kernels of kernels/cuda/softmax.cu (two-hot, soft CE), loss.cu
// (MSE, its scalar kept on the device) and random.cu (dropout drawing lucid::Rng's very numbers).
#include <cmath>
#include <numbers>

#include "lucid/engine/ops.h"
#include "lucid/engine/rng.h"
#include "lucid/kernels/cuda/random.h"
#include "lucid/kernels/loss.h"
#include "lucid/kernels/softmax.h"
#include "op_util.h"

namespace lucid {
using namespace ops_detail;

namespace {
// Targets may be (B) or (B, 1); returns B.
std::int64_t target_rows(const char* name, const Tensor& target) {
  LUCID_CHECK_SHAPE(target.dim() == 1 || (target.dim() == 2 && target.size(1) == 1))
      << name << ": targets must be (B) or (B, 1), got " << target.shape().str();
  return target.size(0);
}
// Dropout on the device, fused: element i is kept when the Philox uniform draw i of rng's stream at
// its current offset is >= p — exactly the draws rng.uniform() would make on the CPU — and the
// backward regenerates the same draws instead of storing a mask. rng advances as on the CPU.
Tensor dropout_cuda(const Tensor& x, float p, Rng& rng) {
  const auto n = static_cast<std::size_t>(x.numel());
  const std::uint64_t seed = rng.seed(), stream_id = rng.stream(), offset = rng.offset();
  rng.set_offset(offset + kernels::philox_blocks(n));
  Tensor y = Tensor::empty(x.shape(), x.device());
  gpu().dropout_forward(x.data(), y.data(), nullptr, n, p, seed, stream_id, offset, gpu().stream);
  if (needs_record({&x})) {
    const Shape shape = x.shape();
    record(y,
           node("dropout",
                [shape, n, p, seed, stream_id, offset](BackwardContext& ctx) {
                  Tensor gx = Tensor::empty(shape, Device::kCuda);
                  gpu().dropout_backward(ctx.grad_out().data(), nullptr, gx.data(), n, p, seed, stream_id,
                                         offset, gpu().stream);
                  ctx.set(0, gx);
                }),
           {&x});
  }
  return y;
}

}  // namespace

Tensor two_hot(const Tensor& x, const TwoHotSpec& spec) {
  require_defined("two_hot", {&x});
  const std::int64_t rows = target_rows("two_hot", x);
  Tensor y = Tensor::empty(Shape{rows, spec.num_bins}, x.device());
  if (x.device() == Device::kCuda)
    gpu().two_hot(x.data(), y.data(), rows, spec.num_bins, spec.vmin, spec.vmax, gpu().stream);
  else
    kernels::two_hot_cpu(x.data(), y.data(), rows, spec.num_bins, spec.vmin, spec.vmax);
  return y;
}

Tensor two_hot_inv(const Tensor& logits, const TwoHotSpec& spec) {
  LUCID_CHECK_SHAPE(logits.dim() == 2 && logits.size(1) == spec.num_bins)
      << "two_hot_inv: logits must be (B, " << spec.num_bins << "), got " << logits.shape().str();
  std::vector<float> bins(spec.num_bins);
  for (int k = 0; k < spec.num_bins; ++k) bins[k] = spec.vmin + spec.bin_size() * static_cast<float>(k);
  const Tensor centers = Tensor::from(bins, Shape{spec.num_bins}, logits.device());
  return symexp(sum_last(mul(softmax(logits), centers), /*keepdim=*/true));
}

Tensor soft_ce(const Tensor& logits, const Tensor& target, const TwoHotSpec& spec) {
  require_defined("soft_ce", {&logits, &target});
  const Device dev = common_device("soft_ce", {&logits, &target});
  const std::int64_t rows = target_rows("soft_ce", target);
  LUCID_CHECK_SHAPE(logits.dim() == 2 && logits.size(0) == rows && logits.size(1) == spec.num_bins)
      << "soft_ce: logits must be (" << rows << ", " << spec.num_bins << "), got " << logits.shape().str();
  Tensor loss = Tensor::empty(Shape{rows, 1}, dev);
  Tensor lse = Tensor::empty(Shape{rows}, dev);
  if (dev == Device::kCuda)
    gpu().soft_ce_forward(logits.data(), target.data(), loss.data(), lse.data(), rows, spec.num_bins,
                          spec.vmin, spec.vmax, gpu().stream);
  else
    kernels::soft_ce_forward_cpu(logits.data(), target.data(), loss.data(), lse.data(), rows, spec.num_bins,
                                 spec.vmin, spec.vmax);
  if (needs_record({&logits})) {
    Tensor ls = saved(logits), ts = saved(target);
    record(loss,
           node("soft_ce",
                [ls, ts, lse, rows, spec](BackwardContext& ctx) {
                  Tensor g = Tensor::empty(ls.shape(), ls.device());
                  if (ls.device() == Device::kCuda)
                    gpu().soft_ce_backward(ls.data(), ts.data(), lse.data(), ctx.grad_out().data(), g.data(),
                                           rows, spec.num_bins, spec.vmin, spec.vmax, gpu().stream);
                  else
                    kernels::soft_ce_backward_cpu(ls.data(), ts.data(), lse.data(), ctx.grad_out().data(),
                                                  g.data(), rows, spec.num_bins, spec.vmin, spec.vmax);
                  ctx.set(0, g);
                }),
           {&logits});
  }
  return loss;
}

Tensor mse(const Tensor& a, const Tensor& b) {
  require_defined("mse", {&a, &b});
  const Device dev = common_device("mse", {&a, &b});
  LUCID_CHECK_SHAPE(a.shape() == b.shape() && a.numel() > 0)
      << "mse: " << a.shape().str() << " vs " << b.shape().str();
  Tensor y;
  if (dev == Device::kCuda) {
    y = Tensor::empty(Shape{}, dev);
    gpu().mse_forward(a.data(), b.data(), a.numel(), y.data(), gpu().stream);
  } else {
    y = Tensor::scalar(kernels::mse_forward_cpu(a.data(), b.data(), a.numel()));
  }
  if (needs_record({&a, &b})) {
    Tensor as = saved(a), bs = saved(b);
    record(y,
           node("mse",
                [as, bs](BackwardContext& ctx) {
                  const Device d = as.device();
                  Tensor ga = ctx.needs(0) ? Tensor::empty(as.shape(), d) : Tensor();
                  Tensor gb = ctx.needs(1) ? Tensor::empty(bs.shape(), d) : Tensor();
                  float* pa = ga.defined() ? ga.data() : nullptr;
                  float* pb = gb.defined() ? gb.data() : nullptr;
                  if (d == Device::kCuda)  // the upstream gradient is read on the device: no sync
                    gpu().mse_backward(as.data(), bs.data(), ctx.grad_out().data(), pa, pb, as.numel(),
                                       gpu().stream);
                  else
                    kernels::mse_backward_cpu(as.data(), bs.data(), ctx.grad_out().item(), pa, pb,
                                              as.numel());
                  if (ga.defined()) ctx.set(0, ga);
                  if (gb.defined()) ctx.set(1, gb);
                }),
           {&a, &b});
  }
  return y;
}

Tensor gaussian_logprob(const Tensor& eps, const Tensor& log_std) {
  LUCID_CHECK_SHAPE(eps.shape() == log_std.shape())
      << "gaussian_logprob: eps " << eps.shape().str() << " vs log_std " << log_std.shape().str();
  const float d = static_cast<float>(eps.shape().cols());
  const Tensor residual = sum_last(sub(mul(square(eps), -0.5f), log_std), /*keepdim=*/true);
  return add(residual, -0.5f * std::log(2.f * std::numbers::pi_v<float>) * d);
}

Tensor squash_correction(const Tensor& x) {
  const Tensor t = tanh(x);
  return sum_last(log(add(relu(add(neg(square(t)), 1.f)), 1e-6f)), /*keepdim=*/true);
}

Tensor dropout(const Tensor& x, float p, Rng& rng, bool training) {
  LUCID_CHECK(p >= 0.f && p < 1.f) << "dropout: p must be in [0, 1), got " << p;
  if (!training || p == 0.f) return x;
  if (x.device() == Device::kCuda) return dropout_cuda(x, p, rng);
  Tensor mask = Tensor::empty(x.shape());
  rng.uniform(mask.data(), static_cast<std::size_t>(mask.numel()));
  const float scale = 1.f / (1.f - p);
  float* m = mask.data();
  for (std::int64_t i = 0, n = mask.numel(); i < n; ++i) m[i] = m[i] >= p ? scale : 0.f;
  return mul(x, mask);
}

}  // namespace lucid
