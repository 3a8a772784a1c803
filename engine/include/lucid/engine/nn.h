// nn building blocks with TD-MPC2's layout (facts/tdmpc2.md §1.3) over one parameter arena.
//
// ParamArena: every parameter of a model lives in ONE contiguous block, and its gradient in a
// second block with the same layout, so the optimizer, EMA, grad clipping and checkpoints are
// flat loops over std::span<float> (engine/optim.h, engine/safetensors.h). Lifecycle, as in
// llm.c's malloc_and_point_parameters: modules declare (name, shape) while they are built, then
// allocate() makes the two blocks and points every parameter at its view, then init(rng) fills
// them. Offsets are padded to 16 floats (64 bytes) so every parameter starts cache-line aligned;
// padding stays zero in both blocks. All parameters share one Storage and hence one version
// counter: an optimizer step calls bump_version() once and every weight cache sees it.
//
// Linear (W (out, in), b (out), PyTorch layout), NormedLinear (Linear -> Dropout -> LayerNorm ->
// activation), Mlp (TD-MPC2's mlp(): NormedLinear(Mish) hidden layers, dropout on the first only,
// a plain Linear or an activated NormedLinear output), and Ensemble (E Mlps with identical shapes
// stored stacked: W (E, out, in), LN (E, cols), so one ensemble_linear runs all members).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lucid/engine/tensor.h"

namespace lucid {
class Rng;
}

namespace lucid::nn {

class ParamArena {
 public:
  struct View {
    std::string name;
    std::size_t offset;  // in floats, from the start of the block
    Shape shape;
  };

  ParamArena() = default;
  // Modules keep a pointer to their arena: it must not move or be copied.
  ParamArena(const ParamArena&) = delete;
  ParamArena& operator=(const ParamArena&) = delete;

  // Registers a parameter; returns its id. Only before allocate(); names must be unique.
  std::size_t declare(const std::string& name, const Shape& shape);
  void allocate();  // zero-filled params and grads
  bool allocated() const { return params_.defined(); }
  // Moves both blocks to `device` (init() fills them on the host, so: declare, allocate, init,
  // then to(kCuda)) and re-points every parameter at its view there. Modules hold parameter ids,
  // not tensors, so they follow. Tensors taken from param() before the move keep the old block.
  void to(Device device);
  Device device() const { return params_.device(); }

  const Tensor& param(std::size_t id) const;  // requires_grad; grad() is its view into the grad block
  const std::vector<View>& views() const { return views_; }
  std::optional<std::size_t> find(const std::string& name) const;
  // [offset, offset + size) of the block holding every parameter whose name starts with `prefix`
  // (a module declared in one go, e.g. "enc."), for optimizer ParamGroups such as TD-MPC2's
  // encoder lr scale. Throws when no parameter matches or other parameters lie in between.
  struct Range {
    std::size_t offset, size;
  };
  Range range(const std::string& prefix) const;
  std::size_t size() const { return total_; }  // floats in each block, padding included
  std::size_t num_params() const;              // floats excluding padding

  std::span<float> params();  // host spans: the arena must be on the CPU (else use *_tensor())
  std::span<float> grads();
  const Tensor& params_tensor() const { return params_; }  // 1-D, the whole block
  const Tensor& grads_tensor() const { return grads_; }
  void zero_grad();
  void bump_version() { params_.bump_version(); }  // after writing params in place

 private:
  void point_views();  // (re)builds tensors_ as views of params_ / grads_

  std::vector<View> views_;
  std::vector<Tensor> tensors_;
  std::size_t total_ = 0;
  Tensor params_, grads_;
};

// Fills n values from N(0, std^2) truncated to [a, b] by redrawing out-of-range values, with
// torch.nn.init.trunc_normal_'s defaults: a, b are ABSOLUTE bounds (-2, 2), not multiples of std.
void trunc_normal(float* out, std::size_t n, float std, Rng& rng, float a = -2.f, float b = 2.f);

enum class Activation { kNone, kMish, kSimNorm, kRelu, kElu, kTanh };
Tensor activate(const Tensor& x, Activation act, int simnorm_dim = 8);

class Linear {
 public:
  Linear() = default;
  Linear(ParamArena& arena, const std::string& name, int in, int out, bool bias = true);
  void init(Rng& rng) const;  // trunc_normal(std 0.02) weights, zero bias (TD-MPC2 common/init.py)
  void zero_weights() const;  // TD-MPC2 zeroes the reward and Q output layers
  Tensor forward(const Tensor& x) const;
  const Tensor& weight() const;
  Tensor bias() const;
  int in() const { return in_; }
  int out() const { return out_; }

 private:
  ParamArena* arena_ = nullptr;
  std::size_t w_ = 0, b_ = 0;
  bool has_bias_ = true;
  int in_ = 0, out_ = 0;
};

class NormedLinear {
 public:
  NormedLinear() = default;
  NormedLinear(ParamArena& arena, const std::string& name, int in, int out, Activation act,
               float dropout = 0.f);
  void init(Rng& rng) const;  // Linear init; LayerNorm weight 1, bias 0
  // rng may be null when !training or dropout == 0. LN + Mish run fused.
  Tensor forward(const Tensor& x, Rng* rng = nullptr, bool training = false) const;
  const Linear& linear() const { return linear_; }

 private:
  ParamArena* arena_ = nullptr;
  Linear linear_;
  std::size_t ln_w_ = 0, ln_b_ = 0;
  Activation act_ = Activation::kNone;
  float dropout_ = 0.f;
};

struct MlpSpec {
  int in = 0;
  std::vector<int> hidden;
  int out = 0;
  std::optional<Activation> out_act;  // absent: plain Linear output (TD-MPC2 act=None)
  float dropout = 0.f;                // on the first layer only
};

class Mlp {
 public:
  Mlp() = default;
  Mlp(ParamArena& arena, const std::string& name, const MlpSpec& spec);
  void init(Rng& rng) const;
  Tensor forward(const Tensor& x, Rng* rng = nullptr, bool training = false) const;
  const Linear& output_linear() const;
  const MlpSpec& spec() const { return spec_; }

 private:
  MlpSpec spec_;
  std::vector<NormedLinear> hidden_;
  std::optional<NormedLinear> normed_out_;
  Linear out_;
};

// E Mlps of one spec, stacked. Parameter names: <name>.<layer>.weight (E, out, in), .bias (E, out),
// .ln.weight / .ln.bias (E, out).
class Ensemble {
 public:
  Ensemble() = default;
  Ensemble(ParamArena& arena, const std::string& name, int members, const MlpSpec& spec);
  void init(Rng& rng) const;
  void zero_output_weights() const;
  // x (B, in) shared by all members or (E, B, in) -> (E, B, out).
  Tensor forward(const Tensor& x, Rng* rng = nullptr, bool training = false) const;
  int members() const { return members_; }

 private:
  struct Layer {
    std::size_t w, b, ln_w, ln_b;
    bool normed;
    Activation act;
    float dropout;
  };
  ParamArena* arena_ = nullptr;
  int members_ = 0;
  std::vector<Layer> layers_;
};

}  // namespace lucid::nn
