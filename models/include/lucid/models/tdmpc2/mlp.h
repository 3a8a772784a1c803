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
// fixed graph of a few MLPs, so forward saves exactly what backward reads into buffers sized once
// for the largest batch, and backward is a straight loop over layers. The layer math is the shared
// kernels' (kernels/layernorm.h: LayerNorm + Mish fused; kernels/softmax.h: SimNorm as a softmax
// over rows of simnorm_dim), so what is saved per norm layer is what those kernels' backward
// reads: the LayerNorm input h (rows x out, after bias and dropout), its mean and 1/std (rows),
// and the layer output y (rows x out, read by the SimNorm backward). Memory contract: forward
// writes (=) every cache buffer and the output; backward accumulates (+=) parameter gradients into
// `grads` and writes (=) the input gradient `dx`.
//
// GEMMs: kernels::gemm_rows_parallel_cpu (rows split over lucid's OpenMP threads; BLAS itself is
// single-threaded under kernels/threading.h). A forward given a weights version and at most
// kernels::kGemmSmallMaxM rows instead reads the weights pre-packed per version (gemm_small.h),
// which is what planning batches (policy prior, one-observation encode) need.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lucid {
class Rng;
}

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
  friend void mlp_forward(const Mlp&, const float*, MlpCache&, int, const float*, std::uint64_t);
  friend void mlp_forward_shared_prefix(const Mlp&, const float*, MlpCache&, int, const float*, int,
                                        const float*, std::uint64_t);
  friend void mlp_backward(const Mlp&, const float*, float*, MlpCache&, const float*, float*, int);
  friend void mlp_forward_begin(MlpCache&, int, const float*);
  friend void mlp_forward_rows(const Mlp&, const float*, MlpCache&, int, int, std::uint64_t);
  // Layers [first, end) on rows [row0, row0 + rows) of the batch, layer `first` reading x (those
  // rows, x's own row 0 first), writing the same rows of the caches.
  void forward_layers(const Mlp& mlp, const float* params, int first, int row0, int rows, const float* x,
                      std::uint64_t weights_version);
  struct Layer {
    std::vector<float> h;           // LayerNorm input: x W^T + b, times the dropout mask (norm layers)
    std::vector<float> mean, rstd;  // per row, as kernels::layernorm_forward_cpu wrote them (norm layers)
    std::vector<float> y;           // layer output
  };
  std::vector<float> input_;
  std::vector<Layer> layers_;
  // Backward ping-pong buffers, rows x max width; the forward borrows grad_a_ for the LayerNorm
  // output that SimNorm reads (not needed by the backward).
  std::vector<float> grad_a_, grad_b_;
  const float* mask_ = nullptr;  // dropout mask used by the last forward
  int rows_ = 0, capacity_ = 0;
};

// Marks weights that may change at any time: the forward always runs BLAS on them.
inline constexpr std::uint64_t kUnversionedWeights = ~std::uint64_t{0};

// params: the Mlp's own block (arena + mlp.begin()). mask: rows x dropout_width() values in
// {0, 1/(1-p)} for the first layer, or nullptr (eval mode / no dropout); it must stay alive until
// the matching backward. weights_version: a number that changes whenever params change (the
// model's weights_version()); with it, batches of <= kernels::kGemmSmallMaxM rows use the packed
// small-batch GEMM, whose cache it keys.
void mlp_forward(const Mlp& mlp, const float* params, MlpCache& cache, int rows, const float* mask = nullptr,
                 std::uint64_t weights_version = kUnversionedWeights);

// The same forward in blocks of rows, so that a chain of networks can run on one block of rows per
// thread without a barrier between networks (kernels::parallel_jobs; every layer's result for a row
// depends on that row alone). mlp_forward_begin sets the batch (rows, and its whole mask, as in
// mlp_forward) once, before the blocks; then mlp_forward_rows(row_begin, row_end) for blocks that
// cover [0, rows), in any order or at once, each after its input rows were written. The cache then
// holds what mlp_forward of the batch writes (GEMMs of a block of rows instead of all of them: the
// same floats, up to BLAS blocking), and mlp_backward may follow.
void mlp_forward_begin(MlpCache& cache, int rows, const float* mask = nullptr);
void mlp_forward_rows(const Mlp& mlp, const float* params, MlpCache& cache, int row_begin, int row_end,
                      std::uint64_t weights_version = kUnversionedWeights);

// Inference forward of rows whose input is [shared | x_r]: the first shared_dim columns are one row
// `shared` common to every row (planning rollouts that all start from the same latent), and x
// holds only the rest, rows x (in_dim - shared_dim). The first layer then costs one
// shared_dim-deep GEMV plus a GEMM only as deep as the rest (the action width) instead of in_dim.
// Same values as mlp_forward on the concatenated rows up to float summation order. The cache
// cannot feed mlp_backward afterwards (its input was never concatenated); no dropout.
void mlp_forward_shared_prefix(const Mlp& mlp, const float* params, MlpCache& cache, int rows,
                               const float* shared, int shared_dim, const float* x,
                               std::uint64_t weights_version = kUnversionedWeights);

// dy: rows x out_dim. grads: the Mlp's gradient block (+=), or nullptr to skip every parameter
// gradient (detached weights). dx: rows x in_dim (=), or nullptr. dx_first_col > 0 computes only
// the input columns from it on (row stride still in_dim, the columns before it untouched): the
// policy loss needs Q's gradient for the action alone, not for the detached latent in front of it,
// and skipping those columns skips most of the first layer's input GEMM.
void mlp_backward(const Mlp& mlp, const float* params, float* grads, MlpCache& cache, const float* dy,
                  float* dx, int dx_first_col = 0);

// TD-MPC2's initialisation of a layout (common/init.py): weights N(0, 0.02) (trunc_normal_ with
// std 0.02 truncates at 100 sigma), biases and LayerNorm shifts 0, LayerNorm gains 1, embeddings
// U(-0.02, 0.02). params holds layout.size() floats.
void init_params(const ParamLayout& layout, std::span<float> params, Rng& rng);
// Zeroes the weight of mlp's output layer (reward and value heads start predicting exactly 0).
void zero_output_layer(const Mlp& mlp, std::span<float> params);

// Writes [z | a] rows into dst (rows x (L + A)): the input of every network that reads a latent
// and an action (dynamics, reward, Q).
void concat_rows(const float* z, int L, const float* a, int A, int rows, float* dst);

}  // namespace lucid::models::tdmpc2
