// GRU cells (facts/dream_mpc.md §4): the projections are linear ops (GEMMs, weight gradients
// accumulated like any linear), the gates one fused node each (kernels/cpu/gru.cc; for CUDA
// tensors kernels/cuda/gru.cu, one launch per direction).
#include "lucid/kernels/gru.h"

#include "lucid/engine/ops.h"
#include "op_util.h"

namespace lucid {
using namespace ops_detail;

namespace {

Tensor gru_torch_gates(const Tensor& gi, const Tensor& gh, const Tensor& h) {
  const std::int64_t batch = h.size(0), hidden = h.size(1);
  const Device dev = h.device();
  Tensor y = Tensor::empty(h.shape(), dev);
  if (dev == Device::kCuda)
    gpu().gru_torch_forward(gi.data(), gh.data(), h.data(), y.data(), batch, hidden, gpu().stream);
  else
    kernels::gru_torch_forward_cpu(gi.data(), gh.data(), h.data(), y.data(), batch, hidden);
  if (needs_record({&gi, &gh, &h})) {
    Tensor is = saved(gi), hs_ = saved(gh), h0 = saved(h);
    record(y,
           node("gru_gates",
                [is, hs_, h0, dev, batch, hidden](BackwardContext& ctx) {
                  Tensor ggi = ctx.needs(0) ? Tensor::empty(is.shape(), dev) : Tensor();
                  Tensor ggh = ctx.needs(1) ? Tensor::empty(hs_.shape(), dev) : Tensor();
                  Tensor gh0 = ctx.needs(2) ? Tensor::empty(h0.shape(), dev) : Tensor();
                  float* p_gi = ggi.defined() ? ggi.data() : nullptr;
                  float* p_gh = ggh.defined() ? ggh.data() : nullptr;
                  float* p_h = gh0.defined() ? gh0.data() : nullptr;
                  if (dev == Device::kCuda)
                    gpu().gru_torch_backward(is.data(), hs_.data(), h0.data(), ctx.grad_out().data(), p_gi,
                                             p_gh, p_h, batch, hidden, gpu().stream);
                  else
                    kernels::gru_torch_backward_cpu(is.data(), hs_.data(), h0.data(), ctx.grad_out().data(),
                                                    p_gi, p_gh, p_h, batch, hidden);
                  if (ggi.defined()) ctx.set(0, ggi);
                  if (ggh.defined()) ctx.set(1, ggh);
                  if (gh0.defined()) ctx.set(2, gh0);
                }),
           {&gi, &gh, &h});
  }
  return y;
}

Tensor gru_ln_gates(const Tensor& p, const Tensor& h) {
  const std::int64_t batch = h.size(0), hidden = h.size(1);
  const Device dev = h.device();
  Tensor y = Tensor::empty(h.shape(), dev);
  if (dev == Device::kCuda)
    gpu().gru_ln_forward(p.data(), h.data(), y.data(), batch, hidden, gpu().stream);
  else
    kernels::gru_ln_forward_cpu(p.data(), h.data(), y.data(), batch, hidden);
  if (needs_record({&p, &h})) {
    Tensor ps = saved(p), h0 = saved(h);
    record(y,
           node("gru_ln_gates",
                [ps, h0, dev, batch, hidden](BackwardContext& ctx) {
                  Tensor gp = ctx.needs(0) ? Tensor::empty(ps.shape(), dev) : Tensor();
                  Tensor gh0 = ctx.needs(1) ? Tensor::empty(h0.shape(), dev) : Tensor();
                  float* p_p = gp.defined() ? gp.data() : nullptr;
                  float* p_h = gh0.defined() ? gh0.data() : nullptr;
                  if (dev == Device::kCuda)
                    gpu().gru_ln_backward(ps.data(), h0.data(), ctx.grad_out().data(), p_p, p_h, batch,
                                          hidden, gpu().stream);
                  else
                    kernels::gru_ln_backward_cpu(ps.data(), h0.data(), ctx.grad_out().data(), p_p, p_h, batch,
                                                 hidden);
                  if (gp.defined()) ctx.set(0, gp);
                  if (gh0.defined()) ctx.set(1, gh0);
                }),
           {&p, &h});
  }
  return y;
}

}  // namespace

Tensor gru_cell(const Tensor& x, const Tensor& h, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                const Tensor& b_hh) {
  require_defined("gru_cell", {&x, &h, &w_ih, &w_hh});
  common_device("gru_cell", {&x, &h, &w_ih, &w_hh, &b_ih, &b_hh});
  LUCID_CHECK_SHAPE(x.dim() == 2 && h.dim() == 2 && x.size(0) == h.size(0) && w_ih.dim() == 2 &&
                    w_ih.size(0) == 3 * h.size(1) && w_hh.shape() == (Shape{3 * h.size(1), h.size(1)}))
      << "gru_cell: x " << x.shape().str() << ", h " << h.shape().str() << ", w_ih " << w_ih.shape().str()
      << ", w_hh " << w_hh.shape().str();
  return gru_torch_gates(linear(x, w_ih, b_ih), linear(h, w_hh, b_hh), h);
}

Tensor gru_cell_ln(const Tensor& x, const Tensor& h, const Tensor& w, const Tensor& gamma, const Tensor& beta,
                   float eps) {
  require_defined("gru_cell_ln", {&x, &h, &w, &gamma, &beta});
  common_device("gru_cell_ln", {&x, &h, &w, &gamma, &beta});
  const std::int64_t hidden = h.dim() == 2 ? h.size(1) : -1;
  LUCID_CHECK_SHAPE(x.dim() == 2 && h.dim() == 2 && x.size(0) == h.size(0) &&
                    w.shape() == (Shape{3 * hidden, hidden + x.size(1)}))
      << "gru_cell_ln: x " << x.shape().str() << ", h " << h.shape().str() << ", w " << w.shape().str()
      << " (expected (3H, H + I))";
  const Tensor p = layernorm(linear(concat({h, x}, -1), w), gamma, beta, eps);
  return gru_ln_gates(p, h);
}

}  // namespace lucid
