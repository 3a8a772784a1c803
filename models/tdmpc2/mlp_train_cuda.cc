// TD-MPC2 MLP training forward/backward on the device (see mlp_train_cuda.h for the launch plan
// and the contract; the CPU twin is mlp.cc).
#include "lucid/models/tdmpc2/mlp_train_cuda.h"

#include <algorithm>

#include "lucid/engine/cuda_launchers.h"
#include "lucid/error.h"

namespace lucid::models::tdmpc2 {
namespace {

constexpr float kLayerNormEps = 1e-5f;  // torch.nn.LayerNorm default, as mlp.cc

Tensor dev(std::int64_t rows, std::int64_t cols) { return Tensor::zeros(Shape{rows, cols}, Device::kCuda); }

// h (rows x out) = the bias in every row.
void broadcast_bias(const float* bias, int rows, int out, float* h) {
  const CudaLaunchers& k = cuda_launchers();
  k.expand(bias, kernels::Dims4{{1, 1, 1, out}}, h, kernels::Dims4{{1, 1, rows, out}}, 1.f, k.stream);
}

// Whether a layer's bias goes through the fused LayerNorm launch (hidden and SimNorm layers
// without dropout) rather than being broadcast into h first.
bool fused_bias(const LayerSpec& s, const float* mask) { return s.norm && !(s.dropout && mask); }

}  // namespace

void MlpCacheCuda::reserve(const Mlp& mlp, int max_rows) {
  if (max_rows <= capacity_ && layers_.size() == mlp.layers().size() && mlp.max_width() <= width_ &&
      input_.defined() && input_.shape().cols() == mlp.in_dim())
    return;
  const int rows = std::max(max_rows, capacity_);
  input_ = dev(rows, mlp.in_dim());
  layers_.assign(mlp.layers().size(), Layer{});
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const LayerSpec& s = mlp.layers()[i];
    layers_[i].y = dev(rows, s.out);
    if (!s.norm) continue;
    layers_[i].h = dev(rows, s.out);
    layers_[i].mean = dev(rows, 1);
    layers_[i].rstd = dev(rows, 1);
  }
  width_ = mlp.max_width();
  grad_a_ = dev(rows, width_);
  grad_b_ = dev(rows, width_);
  grad_c_ = dev(rows, width_);
  ones_ = Tensor::full(Shape{rows}, 1.f, Device::kCuda);
  capacity_ = rows;
}

void mlp_forward_train_cuda(const Mlp& mlp, const float* params, MlpCacheCuda& c, int rows,
                            const float* mask) {
  LUCID_CHECK(rows >= 0 && rows <= c.capacity_ && !c.layers_.empty())
      << "device MLP batch of " << rows << " rows exceeds the cache's " << c.capacity_;
  c.rows_ = rows;
  c.mask_ = mask;
  if (rows == 0) return;
  const CudaLaunchers& k = cuda_launchers();
  const float* x = c.input_.data();
  for (std::size_t li = 0; li < mlp.layers().size(); ++li) {
    const LayerSpec& s = mlp.layers()[li];
    MlpCacheCuda::Layer& l = c.layers_[li];
    const float* w = params + s.w;
    const float* bias = params + s.b;
    float* y = l.y.data();
    if (!s.norm) {
      broadcast_bias(bias, rows, s.out, y);
      k.gemm(false, true, rows, s.out, s.in, 1.f, x, s.in, w, s.in, 1.f, y, s.out, k.stream);
      x = y;
      continue;
    }
    float* h = l.h.data();
    const bool fused = fused_bias(s, mask);
    if (fused) {
      k.gemm(false, true, rows, s.out, s.in, 1.f, x, s.in, w, s.in, 0.f, h, s.out, k.stream);
    } else {
      broadcast_bias(bias, rows, s.out, h);
      k.gemm(false, true, rows, s.out, s.in, 1.f, x, s.in, w, s.in, 1.f, h, s.out, k.stream);
      const kernels::Dims4 dims{{1, 1, rows, s.out}};
      k.binary_forward(kernels::BinaryOp::kMul, h, dims, mask, dims, h, dims, k.stream);
    }
    const float* ln_bias = fused ? bias : nullptr;
    if (s.act == Activation::kSimNorm) {
      float* u = c.grad_c_.data();  // the LayerNorm output; the backward reads only the softmax's y
      k.ensemble_layernorm_forward(h, ln_bias, params + s.gamma, params + s.beta, u, l.mean.data(),
                                   l.rstd.data(), 1, rows, s.out, kLayerNormEps, false, k.stream);
      const int g = mlp.simnorm_dim();
      k.softmax_forward(u, y, std::int64_t{rows} * (s.out / g), g, false, k.stream);
    } else {
      k.ensemble_layernorm_forward(h, ln_bias, params + s.gamma, params + s.beta, y, l.mean.data(),
                                   l.rstd.data(), 1, rows, s.out, kLayerNormEps, s.act == Activation::kMish,
                                   k.stream);
    }
    x = y;
  }
}

void mlp_backward_cuda(const Mlp& mlp, const float* params, float* grads, MlpCacheCuda& c, const float* dy,
                       float* dx, int dx_first_col) {
  LUCID_CHECK(dx_first_col >= 0 && dx_first_col < mlp.in_dim())
      << "mlp_backward: dx_first_col " << dx_first_col << " outside [0, " << mlp.in_dim() << ")";
  const int rows = c.rows_;
  if (rows == 0) return;
  const CudaLaunchers& k = cuda_launchers();
  float* const buf_a = c.grad_a_.data();
  float* const buf_b = c.grad_b_.data();
  float* const buf_c = c.grad_c_.data();
  const float* d_out = dy;
  for (int li = static_cast<int>(mlp.layers().size()) - 1; li >= 0; --li) {
    const LayerSpec& s = mlp.layers()[static_cast<std::size_t>(li)];
    MlpCacheCuda::Layer& l = c.layers_[static_cast<std::size_t>(li)];
    const float* x = li == 0 ? c.input_.data() : c.layers_[static_cast<std::size_t>(li) - 1].y.data();
    const float* w = params + s.w;
    // Scratch that is not d_out: the gradient w.r.t. the linear output goes to dh_buf, the
    // SimNorm softmax's to buf_c; d_in (below) takes whichever of a / b is not dh.
    float* dh_buf = d_out == buf_a ? buf_b : buf_a;
    const float* dh = d_out;
    bool bias_done = false;
    if (s.norm) {
      const float* g_ln = d_out;
      if (s.act == Activation::kSimNorm) {
        const int g = mlp.simnorm_dim();
        k.softmax_backward(l.y.data(), d_out, buf_c, std::int64_t{rows} * (s.out / g), g, false, k.stream);
        g_ln = buf_c;
      }
      const bool fused = fused_bias(s, c.mask_);
      k.ensemble_layernorm_backward(l.h.data(), fused ? params + s.b : nullptr, params + s.gamma,
                                    params + s.beta, l.mean.data(), l.rstd.data(), g_ln, dh_buf,
                                    grads && fused ? grads + s.b : nullptr, grads ? grads + s.gamma : nullptr,
                                    grads ? grads + s.beta : nullptr, 1, rows, s.out,
                                    s.act == Activation::kMish, k.stream);
      bias_done = fused;
      if (!fused) {
        const kernels::Dims4 dims{{1, 1, rows, s.out}};
        k.binary_forward(kernels::BinaryOp::kMul, dh_buf, dims, c.mask_, dims, dh_buf, dims, k.stream);
      }
      dh = dh_buf;
    }
    if (grads) {
      // dW (out, in) += dh^T x; db += 1^T dh (when the LayerNorm kernel did not add it).
      k.gemm(true, false, s.out, s.in, rows, 1.f, dh, s.out, x, s.in, 1.f, grads + s.w, s.in, k.stream);
      if (!bias_done)
        k.gemm(false, false, 1, s.out, rows, 1.f, c.ones_.data(), rows, dh, s.out, 1.f, grads + s.b, s.out,
               k.stream);
    }
    if (li == 0) {
      if (dx)
        k.gemm(false, false, rows, s.in - dx_first_col, s.out, 1.f, dh, s.out, w + dx_first_col, s.in, 0.f,
               dx + dx_first_col, s.in, k.stream);
    } else {
      float* d_in = dh == buf_a ? buf_b : buf_a;
      k.gemm(false, false, rows, s.in, s.out, 1.f, dh, s.out, w, s.in, 0.f, d_in, s.in, k.stream);
      d_out = d_in;
    }
  }
}

}  // namespace lucid::models::tdmpc2
