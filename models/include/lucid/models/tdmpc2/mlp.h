// TD-MPC2's MLP blocks on one flat parameter arena, with a hand-written backward.
//
// A ParamLayout lists named tensors (PyTorch names and (out, in) weight layout) at offsets into
// one float block; sizes come first, so a 317M-parameter model can be counted without allocating.
// An Mlp is TD-MPC2's `layers.mlp`: hidden layers are NormedLinear (Linear -> Dropout (first
// layer only) -> LayerNorm -> Mish); the output layer is a plain Linear, or Linear -> LayerNorm ->
// SimNorm for latents (facts/tdmpc2.md §1.3). Its layer offsets are relative to the Mlp's own
// block [begin, end) of the arena, so the same Mlp runs on the online weights, on an EMA copy of
// that block (target Q) or with gradients switched off (detached Q).
//
// Why not the engine's autodiff: these are the two hot loops of the project (plan and update), a
// fixed graph of a few MLPs, so forward saves exactly what backward reads (normalised
// pre-activations, 1/std, outputs) into buffers sized once for the largest batch, and backward
// is a straight loop over layers. Memory contract: forward writes (=) every cache buffer and the
// output; backward accumulates (+=) parameter gradients into `grads` and writes (=) the input
// gradient `dx`.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lucid::models::tdmpc2 {

// What a tensor is, so initialisers can tell weights from biases and LayerNorm affine terms.
enum class ParamKind : std::uint8_t { kWeight, kBias, kNormGain, kNormBias, kEmbedding };

struct ParamEntry {
  std::string name;
  std::vector<std::int64_t> shape;
  std::size_t offset = 0;
  std::size_t numel = 0;
  ParamKind kind = ParamKind::kWeight;
};

class ParamLayout {
 public:
  std::size_t add(std::string name, std::vector<std::int64_t> shape, ParamKind kind);
  std::size_t size() const { return size_; }
  const std::vector<ParamEntry>& entries() const { return entries_; }

 private:
  std::vector<ParamEntry> entries_;
  std::size_t size_ = 0;
};

enum class Activation : std::uint8_t { kNone, kMish, kSimNorm };

struct LayerSpec {
  int in = 0, out = 0;
  std::size_t w = 0, b = 0;         // relative to Mlp::begin
  std::size_t gamma = 0, beta = 0;  // LayerNorm affine, when norm
  bool norm = false;
  bool dropout = false;  // takes the dropout mask given to forward
  Activation act = Activation::kNone;
};

class Mlp {
 public:
  Mlp() = default;
  // layers.mlp(in, hidden, out, act): `simnorm_out` selects the Linear -> LN -> SimNorm output.
  Mlp(ParamLayout& layout, const std::string& prefix, int in, const std::vector<int>& hidden, int out,
      bool simnorm_out, bool dropout_first, int simnorm_dim = 8);

  int in_dim() const { return layers_.front().in; }
  int out_dim() const { return layers_.back().out; }
  int max_width() const;
  int simnorm_dim() const { return simnorm_dim_; }
  std::size_t begin() const { return begin_; }
  std::size_t end() const { return end_; }
  std::size_t size() const { return end_ - begin_; }
  const std::vector<LayerSpec>& layers() const { return layers_; }
  // Width of the first hidden layer: the shape of a dropout mask row.
  int dropout_width() const { return layers_.front().out; }

 private:
  std::vector<LayerSpec> layers_;
  std::size_t begin_ = 0, end_ = 0;
  int simnorm_dim_ = 8;
};

// Activations of one forward pass, sized once for up to max_rows rows. The caller writes the input
// (rows x in_dim) through input(), runs mlp_forward, reads output().
class MlpCache {
 public:
  void reserve(const Mlp& mlp, int max_rows);  // grows only; no-op when big enough
  int capacity() const { return capacity_; }
  int rows() const { return rows_; }
  float* input() { return input_.data(); }
  const float* input() const { return input_.data(); }
  const float* output() const { return layers_.back().y.data(); }

 private:
  friend void mlp_forward(const Mlp&, const float*, MlpCache&, int, const float*);
  friend void mlp_backward(const Mlp&, const float*, float*, MlpCache&, const float*, float*);
  struct Layer {
    std::vector<float> xhat;  // normalised pre-activation (norm layers), or the linear output
    std::vector<float> rstd;  // 1 / sqrt(var + eps) per row (norm layers)
    std::vector<float> y;     // layer output
  };
  std::vector<float> input_;
  std::vector<Layer> layers_;
  std::vector<float> grad_a_, grad_b_;  // backward ping-pong buffers, rows x max width
  const float* mask_ = nullptr;         // dropout mask used by the last forward
  int rows_ = 0, capacity_ = 0;
};

// params: the Mlp's own block (arena + mlp.begin()). mask: rows x dropout_width() values in
// {0, 1/(1-p)} for the first layer, or nullptr (eval mode / no dropout); it must stay alive until
// the matching backward.
void mlp_forward(const Mlp& mlp, const float* params, MlpCache& cache, int rows, const float* mask = nullptr);

// dy: rows x out_dim. grads: the Mlp's gradient block (+=), or nullptr to skip every parameter
// gradient (detached weights). dx: rows x in_dim (=), or nullptr.
void mlp_backward(const Mlp& mlp, const float* params, float* grads, MlpCache& cache, const float* dy,
                  float* dx);

// exp(x) for x <= 88 in straight-line float code, so that loops calling it vectorise (libm's expf
// is an opaque call and made Mish 20% of a plan call). Cody-Waite range reduction x = n ln2 + r,
// |r| <= ln2 / 2, a degree-6 polynomial for e^r (Cephes' expf coefficients, ~1 ulp), and 2^n built
// in the exponent bits. Inputs below -87 flush towards 0 as expf does.
inline float exp_poly(float x) {
  x = x < -87.f ? -87.f : x;
  x = x > 88.f ? 88.f : x;
  const float kRound = 12582912.f;  // 1.5 * 2^23: adding it rounds to an integer
  float n = x * 1.44269504088896341f + kRound;
  n -= kRound;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const auto bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

// mish(x) = x tanh(softplus(x)) written with one exponential: tanh(log(1 + e)) = n / (n + 2) with
// n = e (e + 2), e = exp(x). Matches torch.nn.functional.mish to float rounding. Inline and
// branch-free so the per-layer loops vectorise.
inline float mish_fast(float x) {
  // Above 20 PyTorch's softplus returns x and tanh(x) == 1 in float; the select keeps it branch-free.
  const float e = exp_poly(x < 20.f ? x : 20.f);
  const float n = e * (e + 2.f);
  const float y = x * n / (n + 2.f);
  return x > 20.f ? x : y;
}

inline float mish_grad_fast(float x) {
  const float e = exp_poly(x < 20.f ? x : 20.f);
  const float n = e * (e + 2.f);
  const float inv = 1.f / (n + 2.f);
  const float t = n * inv;                                    // tanh(softplus(x))
  const float sig = e / (1.f + e);                            // sigmoid(x)
  const float g = t + x * sig * (4.f * n + 4.f) * inv * inv;  // 1 - t^2 = (4n + 4) / (n + 2)^2
  return x > 20.f ? 1.f : g;
}

}  // namespace lucid::models::tdmpc2
