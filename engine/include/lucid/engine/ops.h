// Differentiable ops on lucid::Tensor. Each validates its inputs (lucid::ShapeError on mismatch),
// runs the kernel of its device (kernels/include/lucid/kernels/*.h), and records a tape node when
// grad mode is on and an input requires grad. Outputs are new tensors; no op writes its inputs.
//
// Conventions: "last dim" ops treat a tensor as rows x cols with cols = size(-1); "leading dim"
// ops act on dim 0. Linear weights use PyTorch's (out, in) layout, so y = x W^T + b and
// parameters load from PyTorch state dicts unchanged.
#pragma once

#include <cstdint>
#include <vector>

#include "lucid/engine/tensor.h"

namespace lucid {

class Rng;

// ---- linear algebra ----
// y = x W^T + b.  x (..., in), W (out, in), b (out) or undefined -> y (..., out).
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());
// C = op(A) op(B) for 2-D A, B.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// E stacked linears: x (E, B, in) or shared x (B, in); W (E, out, in); b (E, out) -> y (E, B, out).
Tensor ensemble_linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());

// ---- elementwise binary, numpy broadcasting over up to 4 dims (row, column, leading) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);  // gradient to the smaller (a on ties)
Tensor maximum(const Tensor& a, const Tensor& b);  // gradient to the larger (a on ties)
// scalar forms
Tensor add(const Tensor& a, float s);
Tensor mul(const Tensor& a, float s);
inline Tensor sub(const Tensor& a, float s) { return add(a, -s); }
Tensor neg(const Tensor& a);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);

// ---- elementwise unary ----
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor softplus(const Tensor& x);  // log(1 + e^x), PyTorch's threshold 20
Tensor relu(const Tensor& x);
Tensor elu(const Tensor& x, float alpha = 1.f);
Tensor mish(const Tensor& x);  // x tanh(softplus(x))
Tensor square(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor clamp(const Tensor& x, float lo, float hi);  // gradient 1 strictly inside, 0 outside
Tensor symlog(const Tensor& x);                     // sign(x) log(1 + |x|)
Tensor symexp(const Tensor& x);                     // sign(x) (e^|x| - 1)

// ---- row ops (last dim) ----
// LayerNorm over the last dim with affine gamma, beta (cols); eps as PyTorch's default. For a
// stacked ensemble, gamma/beta may be (E, cols) with x (E, ..., cols): member e uses row e.
Tensor layernorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps = 1e-5f);
// mish(layernorm(x)) in one pass over memory.
Tensor layernorm_mish(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps = 1e-5f);
// layernorm(x + bias) (then Mish when `mish`), bias shaped like gamma: the tail of a NormedLinear
// whose GEMM ran without its bias. On CUDA one launch (the bias is added inside the LayerNorm
// kernel, and its gradient is the LayerNorm backward's column sum); on the CPU add then layernorm.
Tensor bias_layernorm(const Tensor& x, const Tensor& bias, const Tensor& gamma, const Tensor& beta, bool mish,
                      float eps = 1e-5f);
Tensor softmax(const Tensor& x);      // over the last dim
Tensor log_softmax(const Tensor& x);  // over the last dim
// Softmax over consecutive groups of `group` features of the last dim (TD-MPC2's SimNorm, V=8).
Tensor simnorm(const Tensor& x, int group = 8);

// ---- reductions ----
Tensor sum(const Tensor& x);                             // all -> scalar
Tensor mean(const Tensor& x);                            // all -> scalar
Tensor sum_last(const Tensor& x, bool keepdim = false);  // (..., C) -> (...) or (..., 1)
Tensor mean_last(const Tensor& x, bool keepdim = false);
Tensor sum_leading(const Tensor& x);                     // (N, ...) -> (...)
Tensor mean_leading(const Tensor& x);                    // (N, ...) -> (...)
Tensor max_last(const Tensor& x, bool keepdim = false);  // gradient to the (first) argmax
Tensor min_last(const Tensor& x, bool keepdim = false);

// ---- shape ----
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor concat(const std::vector<Tensor>& xs, int dim);                         // dim 0 or -1 (last)
Tensor slice(const Tensor& x, int dim, std::int64_t begin, std::int64_t end);  // dim 0 or -1
Tensor gather_rows(const Tensor& x, const std::vector<std::int64_t>& index);   // x[index] along dim 0

// ---- TD-MPC2 discrete regression (facts/tdmpc2.md §1.4) ----
struct TwoHotSpec {
  int num_bins = 101;
  float vmin = -10.f, vmax = 10.f;
  float bin_size() const { return (vmax - vmin) / static_cast<float>(num_bins - 1); }
};
// Targets (B) or (B, 1) -> (B, num_bins): two-hot of clamp(symlog(x), vmin, vmax). No gradient.
Tensor two_hot(const Tensor& x, const TwoHotSpec& spec = {});
// symexp(sum softmax(logits) * bins): (B, num_bins) -> (B, 1). Differentiable (planners need it).
Tensor two_hot_inv(const Tensor& logits, const TwoHotSpec& spec = {});
// -sum two_hot(target) * log_softmax(logits), fused: (B, num_bins), targets (B) or (B, 1) -> (B, 1).
// Gradient flows to the logits only (targets are data).
Tensor soft_ce(const Tensor& logits, const Tensor& target, const TwoHotSpec& spec = {});

// ---- losses and distributions ----
Tensor mse(const Tensor& a, const Tensor& b);  // mean((a - b)^2) over all elements -> scalar, fused
// TD-MPC2 math.gaussian_logprob: sum(-0.5 eps^2 - log_std, -1) - 0.5 log(2 pi) D  -> (..., 1).
Tensor gaussian_logprob(const Tensor& eps, const Tensor& log_std);
// TD-MPC2 math.squash's correction term: sum(log(relu(1 - tanh(x)^2) + 1e-6), -1) -> (..., 1), so
// log_pi(tanh-squashed) = gaussian_logprob - squash_correction(pre-tanh sample).
Tensor squash_correction(const Tensor& x);

// Inverted dropout with probability p: mask from rng (uniform >= p), scale 1/(1-p). Identity when
// !training or p == 0 (returns x itself, no node).
Tensor dropout(const Tensor& x, float p, Rng& rng, bool training = true);

// ---- recurrent cells (facts/dream_mpc.md §4) ----
// (a) PyTorch nn.GRUCell / PlaNet (Kaixhin) / Dreamer-v1: gates [r, z, n].
// x (B, I), h (B, H), w_ih (3H, I), w_hh (3H, H), b_ih (3H), b_hh (3H) -> h' (B, H).
Tensor gru_cell(const Tensor& x, const Tensor& h, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                const Tensor& b_hh);
// (c) DreamerV3 LayerNorm GRU: p = LN([h, x] W^T; gamma, beta, eps 1e-3), split [reset | cand | update],
// h' = u * tanh(sigmoid(reset) * cand) + (1 - u) * h with u = sigmoid(update - 1).
// x (B, I), h (B, H), w (3H, H + I) (no bias), gamma/beta (3H) -> h' (B, H).
Tensor gru_cell_ln(const Tensor& x, const Tensor& h, const Tensor& w, const Tensor& gamma, const Tensor& beta,
                   float eps = 1e-3f);

}  // namespace lucid
