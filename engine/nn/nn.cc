// ParamArena and the TD-MPC2 building blocks (see lucid/engine/nn.h).
#include "lucid/engine/nn.h"

#include <cmath>

#include "lucid/engine/ops.h"
#include "lucid/engine/rng.h"
#include "lucid/error.h"

namespace lucid::nn {

namespace {
constexpr std::size_t kAlignFloats = 16;  // 64 bytes
}

// ---- ParamArena ----
std::size_t ParamArena::declare(const std::string& name, const Shape& shape) {
  LUCID_CHECK(!allocated()) << "declare(\"" << name << "\") after allocate()";
  LUCID_CHECK(!find(name)) << "parameter \"" << name << "\" declared twice";
  views_.push_back({name, total_, shape});
  const std::size_t n = static_cast<std::size_t>(shape.numel());
  total_ += (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
  return views_.size() - 1;
}

void ParamArena::allocate() {
  LUCID_CHECK(!allocated()) << "allocate() called twice";
  const std::int64_t n = static_cast<std::int64_t>(std::max<std::size_t>(total_, 1));
  params_ = Tensor::zeros(Shape{n});
  grads_ = Tensor::zeros(Shape{n});
  point_views();
}

void ParamArena::to(Device device) {
  LUCID_CHECK(allocated()) << "ParamArena::to() before allocate()";
  if (device == params_.device()) return;
  params_ = params_.to(device);
  grads_ = grads_.to(device);
  point_views();
}

void ParamArena::point_views() {
  tensors_.clear();
  for (const View& v : views_) {
    const std::int64_t off = static_cast<std::int64_t>(v.offset);
    Tensor p = params_.view_rows(off, off + v.shape.numel()).view(v.shape);
    p.set_requires_grad(true);
    p.set_grad(grads_.view_rows(off, off + v.shape.numel()).view(v.shape));
    tensors_.push_back(p);
  }
}

const Tensor& ParamArena::param(std::size_t id) const {
  LUCID_CHECK(allocated()) << "param(" << id << ") before allocate()";
  return tensors_.at(id);
}

std::optional<std::size_t> ParamArena::find(const std::string& name) const {
  for (std::size_t i = 0; i < views_.size(); ++i)
    if (views_[i].name == name) return i;
  return std::nullopt;
}

ParamArena::Range ParamArena::range(const std::string& prefix) const {
  std::size_t first = views_.size(), last = 0, count = 0;
  for (std::size_t i = 0; i < views_.size(); ++i) {
    if (views_[i].name.rfind(prefix, 0) != 0) continue;
    first = std::min(first, i);
    last = i;
    ++count;
  }
  LUCID_CHECK(count > 0) << "no parameter name starts with \"" << prefix << "\"";
  LUCID_CHECK(count == last - first + 1) << "parameters starting with \"" << prefix
                                         << "\" are not contiguous in the arena (declare a module in one go)";
  const std::size_t begin = views_[first].offset;
  const std::size_t end = last + 1 < views_.size() ? views_[last + 1].offset : total_;
  return {begin, end - begin};
}

std::size_t ParamArena::num_params() const {
  std::size_t n = 0;
  for (const View& v : views_) n += static_cast<std::size_t>(v.shape.numel());
  return n;
}

std::span<float> ParamArena::params() {
  LUCID_CHECK(params_.is_cpu()) << "ParamArena::params(): the arena lives on "
                                << device_name(params_.device()) << "; use params_tensor()";
  return {params_.data(), total_};
}
std::span<float> ParamArena::grads() {
  LUCID_CHECK(grads_.is_cpu()) << "ParamArena::grads(): the arena lives on " << device_name(grads_.device())
                               << "; use grads_tensor()";
  return {grads_.data(), total_};
}
void ParamArena::zero_grad() { grads_.fill(0.f); }

// ---- init ----
void trunc_normal(float* out, std::size_t n, float std, Rng& rng, float a, float b) {
  LUCID_CHECK(a < b && std > 0.f) << "trunc_normal: need a < b and std > 0";
  rng.normal(out, n);
  for (std::size_t i = 0; i < n; ++i) {
    float v = out[i] * std;
    while (v < a || v > b) v = rng.normal() * std;  // rare: only beyond |a|/std sigmas
    out[i] = v;
  }
}

Tensor activate(const Tensor& x, Activation act, int simnorm_dim) {
  switch (act) {
    case Activation::kNone:
      return x;
    case Activation::kMish:
      return mish(x);
    case Activation::kSimNorm:
      return simnorm(x, simnorm_dim);
    case Activation::kRelu:
      return relu(x);
    case Activation::kElu:
      return elu(x);
    case Activation::kTanh:
      return tanh(x);
  }
  return x;
}

// ---- Linear ----
Linear::Linear(ParamArena& arena, const std::string& name, int in, int out, bool bias)
    : arena_(&arena), has_bias_(bias), in_(in), out_(out) {
  w_ = arena.declare(name + ".weight", Shape{out, in});
  if (bias) b_ = arena.declare(name + ".bias", Shape{out});
}

void Linear::init(Rng& rng) const {
  const Tensor& w = weight();
  trunc_normal(w.data(), static_cast<std::size_t>(w.numel()), 0.02f, rng);
  if (has_bias_) bias().fill(0.f);
  w.bump_version();
}

void Linear::zero_weights() const {
  weight().fill(0.f);
  if (has_bias_) bias().fill(0.f);
}

const Tensor& Linear::weight() const {
  LUCID_CHECK(arena_) << "Linear used before it was constructed with an arena";
  return arena_->param(w_);
}

Tensor Linear::bias() const {
  if (!has_bias_) return Tensor();
  LUCID_CHECK(arena_) << "Linear used before it was constructed with an arena";
  return arena_->param(b_);
}

Tensor Linear::forward(const Tensor& x) const {
  const Tensor& w = weight();
  return linear(x, w, bias());
}

// ---- NormedLinear ----
NormedLinear::NormedLinear(ParamArena& arena, const std::string& name, int in, int out, Activation act,
                           float dropout)
    : arena_(&arena), linear_(arena, name, in, out), act_(act), dropout_(dropout) {
  ln_w_ = arena.declare(name + ".ln.weight", Shape{out});
  ln_b_ = arena.declare(name + ".ln.bias", Shape{out});
}

void NormedLinear::init(Rng& rng) const {
  linear_.init(rng);
  arena_->param(ln_w_).fill(1.f);
  arena_->param(ln_b_).fill(0.f);
}

Tensor NormedLinear::forward(const Tensor& x, Rng* rng, bool training) const {
  const Tensor& g = arena_->param(ln_w_);
  const Tensor& b = arena_->param(ln_b_);
  // On CUDA, without dropout between them, the bias goes into the LayerNorm kernel instead of a
  // broadcast before the GEMM: 2 launches per layer instead of 3.
  if (x.device() == Device::kCuda && !(training && dropout_ > 0.f) && linear_.bias().defined()) {
    const Tensor h = lucid::linear(x, linear_.weight());
    if (act_ == Activation::kMish) return bias_layernorm(h, linear_.bias(), g, b, /*mish=*/true);
    return activate(bias_layernorm(h, linear_.bias(), g, b, /*mish=*/false), act_);
  }
  Tensor h = linear_.forward(x);
  if (training && dropout_ > 0.f) {
    LUCID_CHECK(rng) << "NormedLinear: dropout in training needs an Rng";
    h = dropout(h, dropout_, *rng, true);
  }
  if (act_ == Activation::kMish) return layernorm_mish(h, g, b);
  return activate(layernorm(h, g, b), act_);
}

// ---- Mlp ----
Mlp::Mlp(ParamArena& arena, const std::string& name, const MlpSpec& spec) : spec_(spec) {
  int in = spec.in;
  for (std::size_t i = 0; i < spec.hidden.size(); ++i) {
    hidden_.emplace_back(arena, name + "." + std::to_string(i), in, spec.hidden[i], Activation::kMish,
                         i == 0 ? spec.dropout : 0.f);
    in = spec.hidden[i];
  }
  const std::string out_name = name + "." + std::to_string(spec.hidden.size());
  if (spec.out_act)
    normed_out_.emplace(arena, out_name, in, spec.out, *spec.out_act);
  else
    out_ = Linear(arena, out_name, in, spec.out);
}

void Mlp::init(Rng& rng) const {
  for (const NormedLinear& l : hidden_) l.init(rng);
  if (normed_out_)
    normed_out_->init(rng);
  else
    out_.init(rng);
}

Tensor Mlp::forward(const Tensor& x, Rng* rng, bool training) const {
  Tensor h = x;
  for (const NormedLinear& l : hidden_) h = l.forward(h, rng, training);
  return normed_out_ ? normed_out_->forward(h, rng, training) : out_.forward(h);
}

const Linear& Mlp::output_linear() const { return normed_out_ ? normed_out_->linear() : out_; }

// ---- Ensemble ----
Ensemble::Ensemble(ParamArena& arena, const std::string& name, int members, const MlpSpec& spec)
    : arena_(&arena), members_(members) {
  LUCID_CHECK(members >= 1) << "Ensemble needs at least one member";
  int in = spec.in;
  const std::size_t n = spec.hidden.size();
  for (std::size_t i = 0; i <= n; ++i) {
    const bool last = i == n;
    const int out = last ? spec.out : spec.hidden[i];
    const std::string p = name + "." + std::to_string(i);
    Layer l{};
    l.w = arena.declare(p + ".weight", Shape{members, out, in});
    l.b = arena.declare(p + ".bias", Shape{members, out});
    l.normed = !last || spec.out_act.has_value();
    l.act = last ? spec.out_act.value_or(Activation::kNone) : Activation::kMish;
    l.dropout = i == 0 ? spec.dropout : 0.f;
    if (l.normed) {
      l.ln_w = arena.declare(p + ".ln.weight", Shape{members, out});
      l.ln_b = arena.declare(p + ".ln.bias", Shape{members, out});
    }
    layers_.push_back(l);
    in = out;
  }
}

void Ensemble::init(Rng& rng) const {
  for (const Layer& l : layers_) {
    const Tensor& w = arena_->param(l.w);
    trunc_normal(w.data(), static_cast<std::size_t>(w.numel()), 0.02f, rng);
    arena_->param(l.b).fill(0.f);
    if (l.normed) {
      arena_->param(l.ln_w).fill(1.f);
      arena_->param(l.ln_b).fill(0.f);
    }
  }
}

void Ensemble::zero_output_weights() const {
  arena_->param(layers_.back().w).fill(0.f);
  arena_->param(layers_.back().b).fill(0.f);
}

Tensor Ensemble::forward(const Tensor& x, Rng* rng, bool training) const {
  Tensor h = x;
  for (const Layer& l : layers_) {
    // As in NormedLinear: on CUDA a normed layer without dropout adds its bias inside the
    // ensemble LayerNorm kernel (one strided-batched GEMM + one epilogue launch).
    if (h.device() == Device::kCuda && l.normed && !(training && l.dropout > 0.f)) {
      h = bias_layernorm(ensemble_linear(h, arena_->param(l.w)), arena_->param(l.b), arena_->param(l.ln_w),
                         arena_->param(l.ln_b), l.act == Activation::kMish);
      if (l.act != Activation::kMish) h = activate(h, l.act);
      continue;
    }
    h = ensemble_linear(h, arena_->param(l.w), arena_->param(l.b));
    if (training && l.dropout > 0.f) {
      LUCID_CHECK(rng) << "Ensemble: dropout in training needs an Rng";
      h = dropout(h, l.dropout, *rng, true);  // one mask over (E, B, out): members differ
    }
    if (!l.normed) continue;
    if (l.act == Activation::kMish)
      h = layernorm_mish(h, arena_->param(l.ln_w), arena_->param(l.ln_b));
    else
      h = activate(layernorm(h, arena_->param(l.ln_w), arena_->param(l.ln_b)), l.act);
  }
  return h;
}

}  // namespace lucid::nn
