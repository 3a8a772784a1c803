// TD-MPC2 MLP forward and backward on raw buffers (see mlp.h for the layer recipe and contracts).
//
// Per layer: one GEMM y = x W^T + b (W is (out, in) row-major, as in PyTorch), then the shared
// kernels, which multiply the dropout mask in place on their pass: kernels::layernorm_forward_cpu
// (Mish fused) for hidden layers, LayerNorm then kernels::softmax_forward_cpu over
// simnorm_dim-wide rows for a SimNorm output. Backward runs the same kernels' backward on what
// forward saved (h, mean, rstd, y; kernels::layernorm_backward_linear_cpu also applies the mask
// and sums db), then the two GEMMs dW += dh^T x, dx = dh W (and db += colsum(dh) for a plain
// Linear layer).
#include "lucid/models/tdmpc2/mlp.h"

#include <algorithm>
#include <cstdint>

#include "lucid/engine/rng.h"
#include "lucid/error.h"
#include "lucid/kernels/gemm.h"
#include "lucid/kernels/gemm_small.h"
#include "lucid/kernels/layernorm.h"
#include "lucid/kernels/softmax.h"
#include "lucid/kernels/threading.h"

namespace lucid::models::tdmpc2 {
namespace {

constexpr float kLayerNormEps = 1e-5f;  // torch.nn.LayerNorm default

std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

// out (rows x n) = x (rows x k) W^T + bias, W (n, k). Planning-size batches with versioned weights
// read W pre-packed (the pack is shared by every caller of that version); the rest is BLAS split
// over rows, bias first so the GEMM accumulates onto it.
void linear_forward(const float* x, const float* w, const float* bias, int rows, int n, int k,
                    std::uint64_t version, float* out) {
  if (version != kUnversionedWeights) {
    kernels::gemm_small_cpu(true, rows, n, k, 1.f, x, k, w, k, version, 0.f, out, n, bias);
    return;
  }
#pragma omp parallel for schedule(static) if (std::int64_t{rows} * n >= kernels::kParallelGrain)
  for (int r = 0; r < rows; ++r) std::copy(bias, bias + n, out + sz(r) * n);
  kernels::gemm_rows_parallel_cpu(false, true, rows, n, k, x, k, w, k, 1.f, out, n);
}

// a[i] *= m[i] for n floats (a dropout mask), split over the threads when large.
void multiply_mask(float* a, const float* m, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kernels::kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) a[i] *= m[i];
}

// db (n) += the column sums of dh (rows x n), each column summed over the rows in order (so the
// result does not depend on the threads, which take blocks of columns).
void add_column_sums(const float* dh, int rows, int n, float* db) {
  constexpr int kBlock = 64;
#pragma omp parallel for schedule(static) if (std::int64_t{rows} * n >= kernels::kParallelGrain)
  for (int j0 = 0; j0 < n; j0 += kBlock) {
    const int j1 = std::min(n, j0 + kBlock);
    for (int r = 0; r < rows; ++r) {
      const float* dhr = dh + sz(r) * n;
      for (int j = j0; j < j1; ++j) db[j] += dhr[j];
    }
  }
}

}  // namespace

std::size_t ParamLayout::add(std::string name, std::vector<std::int64_t> shape, ParamKind kind) {
  std::size_t n = 1;
  for (std::int64_t d : shape) {
    LUCID_CHECK(d > 0) << "parameter " << name << " has a non-positive extent " << d;
    n *= static_cast<std::size_t>(d);
  }
  ParamEntry e{std::move(name), std::move(shape), size_, n, kind};
  entries_.push_back(std::move(e));
  size_ += n;
  return size_ - n;
}

Mlp::Mlp(ParamLayout& layout, const std::string& prefix, int in, const std::vector<int>& hidden, int out,
         bool simnorm_out, bool dropout_first, int simnorm_dim)
    : simnorm_dim_(simnorm_dim) {
  begin_ = layout.size();
  std::vector<int> dims{in};
  dims.insert(dims.end(), hidden.begin(), hidden.end());
  dims.push_back(out);
  const int n_layers = static_cast<int>(dims.size()) - 1;
  for (int i = 0; i < n_layers; ++i) {
    LayerSpec l;
    l.in = dims[i];
    l.out = dims[i + 1];
    const bool last = i == n_layers - 1;
    l.norm = !last || simnorm_out;
    l.act = !last ? Activation::kMish : (simnorm_out ? Activation::kSimNorm : Activation::kNone);
    l.dropout = dropout_first && i == 0;
    LUCID_CHECK(!l.dropout || l.norm)
        << prefix << ": dropout is applied before a LayerNorm, so the first layer "
        << "must be a hidden layer";
    const std::string p = prefix + "." + std::to_string(i) + ".";
    l.w = layout.add(p + "weight", {l.out, l.in}, ParamKind::kWeight) - begin_;
    l.b = layout.add(p + "bias", {l.out}, ParamKind::kBias) - begin_;
    if (l.norm) {
      l.gamma = layout.add(p + "ln.weight", {l.out}, ParamKind::kNormGain) - begin_;
      l.beta = layout.add(p + "ln.bias", {l.out}, ParamKind::kNormBias) - begin_;
    }
    if (l.act == Activation::kSimNorm) {
      LUCID_CHECK(l.out % simnorm_dim == 0)
          << prefix << ": SimNorm needs width " << l.out << " divisible by " << simnorm_dim;
    }
    layers_.push_back(l);
  }
  end_ = layout.size();
}

void init_params(const ParamLayout& layout, std::span<float> params, Rng& rng) {
  LUCID_CHECK(params.size() == layout.size())
      << "init_params: " << params.size() << " floats for a layout of " << layout.size();
  for (const ParamEntry& e : layout.entries()) {
    float* p = params.data() + e.offset;
    switch (e.kind) {
      case ParamKind::kWeight:
        rng.normal(p, e.numel);
        for (std::size_t i = 0; i < e.numel; ++i) p[i] *= 0.02f;
        break;
      case ParamKind::kBias:
      case ParamKind::kNormBias:
        std::fill(p, p + e.numel, 0.f);
        break;
      case ParamKind::kNormGain:
        std::fill(p, p + e.numel, 1.f);
        break;
      case ParamKind::kEmbedding:
        rng.uniform(p, e.numel);
        for (std::size_t i = 0; i < e.numel; ++i) p[i] = 0.04f * p[i] - 0.02f;
        break;
    }
  }
}

void zero_output_layer(const Mlp& mlp, std::span<float> params) {
  const LayerSpec& l = mlp.layers().back();
  float* w = params.data() + mlp.begin() + l.w;
  std::fill(w, w + static_cast<std::size_t>(l.in) * l.out, 0.f);
}

int Mlp::max_width() const {
  int w = in_dim();
  for (const LayerSpec& l : layers_) w = std::max(w, l.out);
  return w;
}

void MlpCache::reserve(const Mlp& mlp, int max_rows) {
  if (max_rows <= capacity_ && layers_.size() == mlp.layers().size()) return;
  const auto rows = static_cast<std::size_t>(std::max(max_rows, capacity_));
  input_.resize(rows * mlp.in_dim());
  layers_.resize(mlp.layers().size());
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const LayerSpec& s = mlp.layers()[i];
    layers_[i].h.resize(s.norm ? rows * s.out : 0);
    layers_[i].mean.resize(s.norm ? rows : 0);
    layers_[i].rstd.resize(s.norm ? rows : 0);
    layers_[i].y.resize(rows * s.out);
  }
  grad_a_.resize(rows * mlp.max_width());
  grad_b_.resize(rows * mlp.max_width());
  capacity_ = static_cast<int>(rows);
}

namespace {

// LayerNorm (+ Mish, or + SimNorm) of the linear output c.h into c.y, saving mean and 1/std; with
// a dropout mask, h is multiplied by it in place first (the backward reads the masked h).
void norm_layer(const Mlp& mlp, const LayerSpec& s, const float* params, float* ln_scratch, int rows,
                float* h_mean, float* h_rstd, float* h, const float* mask, float* y) {
  const float* gamma = params + s.gamma;
  const float* beta = params + s.beta;
  if (mask && s.act != Activation::kSimNorm) {  // the only dropout layer: Q's first, Mish
    kernels::layernorm_forward_masked_cpu(h, mask, gamma, beta, y, h_mean, h_rstd, rows, s.out, kLayerNormEps,
                                          s.act == Activation::kMish);
    return;
  }
  if (mask) multiply_mask(h, mask, std::int64_t{rows} * s.out);
  if (s.act == Activation::kSimNorm) {
    kernels::layernorm_forward_cpu(h, gamma, beta, ln_scratch, h_mean, h_rstd, rows, s.out, kLayerNormEps,
                                   false);
    const int g = mlp.simnorm_dim();
    kernels::softmax_forward_cpu(ln_scratch, y, std::int64_t{rows} * (s.out / g), g, false);
  } else {
    kernels::layernorm_forward_cpu(h, gamma, beta, y, h_mean, h_rstd, rows, s.out, kLayerNormEps,
                                   s.act == Activation::kMish);
  }
}

}  // namespace

void MlpCache::forward_layers(const Mlp& mlp, const float* params, int first, int row0, int rows,
                              const float* x, std::uint64_t weights_version) {
  for (std::size_t li = static_cast<std::size_t>(first); li < mlp.layers().size(); ++li) {
    const LayerSpec& s = mlp.layers()[li];
    Layer& c = layers_[li];
    const std::size_t at = sz(row0) * s.out;  // this block's first row in the layer's buffers
    float* y = c.y.data() + at;
    if (!s.norm) {  // plain Linear: the output is all the backward needs
      linear_forward(x, params + s.w, params + s.b, rows, s.out, s.in, weights_version, y);
      x = y;
      continue;
    }
    float* h = c.h.data() + at;
    linear_forward(x, params + s.w, params + s.b, rows, s.out, s.in, weights_version, h);
    // The LayerNorm output that SimNorm reads goes to grad_a_ (not needed by the backward).
    norm_layer(mlp, s, params, grad_a_.data() + at, rows, c.mean.data() + row0, c.rstd.data() + row0, h,
               s.dropout && mask_ ? mask_ + at : nullptr, y);
    x = y;
  }
}

void mlp_forward(const Mlp& mlp, const float* params, MlpCache& cache, int rows, const float* mask,
                 std::uint64_t weights_version) {
  mlp_forward_begin(cache, rows, mask);
  cache.forward_layers(mlp, params, 0, 0, rows, cache.input_.data(), weights_version);
}

void mlp_forward_begin(MlpCache& cache, int rows, const float* mask) {
  kernels::init_threads();
  LUCID_CHECK(rows >= 0 && rows <= cache.capacity_)
      << "MLP batch of " << rows << " rows exceeds the cache's " << cache.capacity_;
  cache.rows_ = rows;
  cache.mask_ = mask;
}

void mlp_forward_rows(const Mlp& mlp, const float* params, MlpCache& cache, int row_begin, int row_end,
                      std::uint64_t weights_version) {
  LUCID_CHECK(0 <= row_begin && row_begin <= row_end && row_end <= cache.rows_)
      << "MLP row block [" << row_begin << ", " << row_end << ") outside the batch of " << cache.rows_
      << " rows set by mlp_forward_begin";
  cache.forward_layers(mlp, params, 0, row_begin, row_end - row_begin,
                       cache.input_.data() + sz(row_begin) * mlp.in_dim(), weights_version);
}

void mlp_forward_shared_prefix(const Mlp& mlp, const float* params, MlpCache& cache, int rows,
                               const float* shared, int shared_dim, const float* x,
                               std::uint64_t weights_version) {
  kernels::init_threads();
  LUCID_CHECK(rows >= 0 && rows <= cache.capacity_)
      << "MLP batch of " << rows << " rows exceeds the cache's " << cache.capacity_;
  const LayerSpec& s = mlp.layers().front();
  LUCID_CHECK(s.norm && shared_dim > 0 && shared_dim < s.in)
      << "shared-prefix forward needs a normed first layer and 0 < shared_dim (" << shared_dim << ") < in ("
      << s.in << ")";
  cache.rows_ = rows;
  cache.mask_ = nullptr;
  const int rest = s.in - shared_dim;
  const float* w = params + s.w;  // (out, in) row-major: columns [0, shared_dim) meet the shared prefix
  // u = b + W[:, :shared_dim] shared, once for all rows (kept in grad_b_, free during a forward).
  float* u = cache.grad_b_.data();
  for (int j = 0; j < s.out; ++j) {
    const float* wj = w + sz(j) * s.in;
    float acc = 0.f;
#pragma omp simd reduction(+ : acc)
    for (int k = 0; k < shared_dim; ++k) acc += wj[k] * shared[k];
    u[j] = params[s.b + sz(j)] + acc;
  }
  // h_r = u + W[:, shared_dim:] x_r: a GEMM of depth `rest` (the action width) instead of `in`.
  MlpCache::Layer& c = cache.layers_.front();
  if (weights_version != kUnversionedWeights) {
    kernels::gemm_small_cpu(true, rows, s.out, rest, 1.f, x, rest, w + shared_dim, s.in, weights_version, 0.f,
                            c.h.data(), s.out, u);
  } else {
    for (int r = 0; r < rows; ++r) std::copy(u, u + s.out, c.h.data() + sz(r) * s.out);
    kernels::gemm_rows_parallel_cpu(false, true, rows, s.out, rest, x, rest, w + shared_dim, s.in, 1.f,
                                    c.h.data(), s.out);
  }
  norm_layer(mlp, s, params, cache.grad_a_.data(), rows, c.mean.data(), c.rstd.data(), c.h.data(), nullptr,
             c.y.data());
  cache.forward_layers(mlp, params, 1, 0, rows, c.y.data(), weights_version);
}

void mlp_backward(const Mlp& mlp, const float* params, float* grads, MlpCache& cache, const float* dy,
                  float* dx, int dx_first_col) {
  LUCID_CHECK(dx_first_col >= 0 && dx_first_col < mlp.in_dim())
      << "mlp_backward: dx_first_col " << dx_first_col << " outside [0, " << mlp.in_dim() << ")";
  const int rows = cache.rows_;
  const int n_layers = static_cast<int>(mlp.layers().size());
  float* const buf_a = cache.grad_a_.data();
  float* const buf_b = cache.grad_b_.data();
  // The ping-pong buffer that is not p (either, when p is the caller's dy).
  auto other = [&](const float* p) { return p == buf_a ? buf_b : buf_a; };
  const float* d_out = dy;  // gradient w.r.t. the current layer's output
  for (int li = n_layers - 1; li >= 0; --li) {
    const LayerSpec& s = mlp.layers()[li];
    MlpCache::Layer& c = cache.layers_[li];
    const float* x = li == 0 ? cache.input_.data() : cache.layers_[li - 1].y.data();
    // dh: gradient w.r.t. the linear output (after bias, before dropout); a plain layer's is d_out.
    const float* dh = d_out;
    if (s.norm) {
      const float* gamma = params + s.gamma;
      const float* beta = params + s.beta;
      float* dgamma = grads ? grads + s.gamma : nullptr;
      float* dbeta = grads ? grads + s.beta : nullptr;
      const float* g_ln = d_out;  // gradient w.r.t. the LayerNorm(+Mish) output
      float* dhw = other(d_out);
      if (s.act == Activation::kSimNorm) {
        const int g = mlp.simnorm_dim();
        float* du = other(d_out);
        kernels::softmax_backward_cpu(c.y.data(), d_out, du, std::int64_t{rows} * (s.out / g), g, false);
        g_ln = du;
        // d_out is dead now: reuse it when it is ours, else the other ping-pong buffer.
        dhw = d_out == buf_b ? buf_b : (d_out == buf_a ? buf_a : other(du));
      }
      // The dropout's mask and db (the column sums of dh) ride on the LayerNorm backward's pass.
      kernels::layernorm_backward_linear_cpu(
          c.h.data(), gamma, beta, c.mean.data(), c.rstd.data(), g_ln, dhw, s.dropout ? cache.mask_ : nullptr,
          dgamma, dbeta, grads ? grads + s.b : nullptr, rows, s.out, s.act == Activation::kMish);
      dh = dhw;
    }
    // dW (out, in) += dh^T x and db += column sums of dh (a normed layer's is done); dx = dh W (the
    // layer's input gradient).
    auto weight_grads = [&] {
      kernels::gemm_rows_parallel_cpu(true, false, s.out, s.in, rows, dh, s.out, x, s.in, 1.f, grads + s.w,
                                      s.in);
      if (!s.norm) add_column_sums(dh, rows, s.out, grads + s.b);
    };
    const int col0 = li == 0 ? dx_first_col : 0;
    float* const d_in = li == 0 ? dx : other(dh);
    auto input_grad = [&] {
      kernels::gemm_rows_parallel_cpu(false, false, rows, s.in - col0, s.out, dh, s.out, params + s.w + col0,
                                      s.in, 0.f, d_in + col0, s.in);
    };
    if (grads && d_in && col0 == 0 && kernels::free_threads() == 2) {
      // On two cores the layer's two products of equal size are the two jobs, one each: neither core
      // re-packs the other's operands (a row split packs the shared one per core) and the pair
      // meets once per layer instead of at every GEMM's end.
      kernels::parallel_jobs(2, [&](int j) { j == 0 ? weight_grads() : input_grad(); });
    } else {
      if (grads) weight_grads();
      if (d_in) input_grad();
    }
    d_out = d_in;
  }
}

}  // namespace lucid::models::tdmpc2
