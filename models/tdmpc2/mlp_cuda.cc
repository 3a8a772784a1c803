// TD-MPC2 MLP inference forward on the device (see mlp_cuda.h for the launch plan and contract).
#include "lucid/models/tdmpc2/mlp_cuda.h"

#include <algorithm>
#include <cstddef>

#include "lucid/engine/cuda_launchers.h"
#include "lucid/error.h"

namespace lucid::models::tdmpc2 {
namespace {

constexpr float kLayerNormEps = 1e-5f;  // torch.nn.LayerNorm default, as mlp.cc

}  // namespace

void MlpScratchCuda::reserve(const Mlp& mlp, int max_rows) {
  if (max_rows <= capacity_ && mlp.max_width() <= width_) return;
  const std::int64_t rows = std::max(max_rows, std::max(capacity_, 1));
  const std::int64_t width = std::max(mlp.max_width(), width_);
  for (Tensor* t : {&a_, &b_, &h_, &mean_, &rstd_, &shared_bias_})
    if (t->defined()) retired_.push_back(*t);  // kept alive: captured graphs may still use them
  a_ = Tensor::empty(Shape{rows, width}, Device::kCuda);
  b_ = Tensor::empty(Shape{rows, width}, Device::kCuda);
  h_ = Tensor::empty(Shape{rows, width}, Device::kCuda);
  mean_ = Tensor::empty(Shape{rows}, Device::kCuda);
  rstd_ = Tensor::empty(Shape{rows}, Device::kCuda);
  shared_bias_ = Tensor::empty(Shape{width}, Device::kCuda);
  capacity_ = static_cast<int>(rows);
  width_ = static_cast<int>(width);
}

void mlp_forward_cuda(const Mlp& mlp, const float* params, const MlpInputCuda& in, int rows,
                      MlpScratchCuda& s, float* out) {
  LUCID_CHECK(rows >= 0 && rows <= s.capacity_ && mlp.max_width() <= s.width_)
      << "device MLP batch of " << rows << " rows exceeds the scratch's " << s.capacity_;
  LUCID_CHECK(in.prefix_dim >= 0 && in.prefix_dim + in.x_dim == mlp.in_dim() &&
              (in.prefix_dim == 0 || in.prefix))
      << "device MLP input: prefix " << in.prefix_dim << " + x " << in.x_dim << " != in " << mlp.in_dim();
  if (rows == 0) return;
  const CudaLaunchers& k = cuda_launchers();
  const auto n_layers = mlp.layers().size();
  const float* x = in.x;
  float* bufs[2] = {s.a_.data(), s.b_.data()};
  for (std::size_t li = 0; li < n_layers; ++li) {
    const LayerSpec& l = mlp.layers()[li];
    const bool last = li + 1 == n_layers;
    // h: this layer's GEMM output (its own buffer: x lives in bufs[(li - 1) % 2] and y goes to
    // bufs[li % 2]); the last layer's plain output goes straight to `out`.
    float* h = last && !l.norm ? out : s.h_.data();
    const float* w = params + l.w;
    const float* bias = params + l.b;
    if (li == 0 && in.prefix_dim > 0) {
      const int p = in.prefix_dim;
      if (in.prefix_shared) {
        // u = W[:, :P] z + b once; it becomes the LayerNorm's bias for every row.
        LUCID_CHECK(l.norm) << "device MLP: a shared prefix needs a normed first layer";
        float* u = s.shared_bias_.data();
        k.gemm(false, true, 1, l.out, p, 1.f, in.prefix, p, w, l.in, 0.f, u, l.out, k.stream);
        k.accumulate(u, bias, l.out, k.stream);
        bias = u;
        k.gemm(false, true, rows, l.out, in.x_dim, 1.f, x, in.x_dim, w + p, l.in, 0.f, h, l.out, k.stream);
      } else {
        k.gemm(false, true, rows, l.out, p, 1.f, in.prefix, p, w, l.in, 0.f, h, l.out, k.stream);
        k.gemm(false, true, rows, l.out, in.x_dim, 1.f, x, in.x_dim, w + p, l.in, 1.f, h, l.out, k.stream);
      }
    } else {
      k.gemm(false, true, rows, l.out, l.in, 1.f, x, l.in, w, l.in, 0.f, h, l.out, k.stream);
    }
    if (!l.norm) {  // plain output: the caller's epilogue adds the bias
      x = h;
      continue;
    }
    const float* gamma = params + l.gamma;
    const float* beta = params + l.beta;
    float* y = last ? out : bufs[li % 2];
    if (l.act == Activation::kSimNorm) {
      float* t = bufs[li % 2];  // not x's buffer; the softmax then writes y
      k.ensemble_layernorm_forward(h, bias, gamma, beta, t, s.mean_.data(), s.rstd_.data(), 1, rows, l.out,
                                   kLayerNormEps, false, k.stream);
      const int g = mlp.simnorm_dim();
      k.softmax_forward(t, y, std::int64_t{rows} * (l.out / g), g, false, k.stream);
    } else {
      k.ensemble_layernorm_forward(h, bias, gamma, beta, y, s.mean_.data(), s.rstd_.data(), 1, rows, l.out,
                                   kLayerNormEps, l.act == Activation::kMish, k.stream);
    }
    x = y;
  }
}

}  // namespace lucid::models::tdmpc2
