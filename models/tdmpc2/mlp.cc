// TD-MPC2 MLP forward and backward on raw buffers (see mlp.h for the layer recipe and contracts).
//
// GEMMs go to kernels::gemm_rows_parallel_cpu (y = x W^T: W is (out, in) row-major, as in
// PyTorch), which splits rows over lucid's OpenMP threads (BLAS itself runs single-threaded under
// the kernels' thread policy, see threading.h). The per-row work (bias, dropout, LayerNorm,
// Mish / SimNorm) is fused into one pass per layer, and backward reads only what forward saved:
// xhat, rstd and y.
#include "lucid/models/tdmpc2/mlp.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "lucid/error.h"
#include "lucid/kernels/gemm.h"
#include "lucid/kernels/threading.h"

namespace lucid::models::tdmpc2 {
namespace {

constexpr float kLayerNormEps = 1e-5f;  // torch.nn.LayerNorm default

// Row reductions with 8 independent partial sums: the vectoriser may not reassociate a single
// float accumulator, but it does vectorise this form.
inline float row_sum(const float* x, int n) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += x[j + k];
  float s = 0.f;
  for (; j < n; ++j) s += x[j];
  for (int k = 0; k < 8; ++k) s += acc[k];
  return s;
}

// sum_j x_j y_j, same scheme.
inline float row_dot(const float* x, const float* y, int n) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += x[j + k] * y[j + k];
  float s = 0.f;
  for (; j < n; ++j) s += x[j] * y[j];
  for (int k = 0; k < 8; ++k) s += acc[k];
  return s;
}

// sum_j (x_j - mean)^2, same scheme.
inline float row_sq_dev(const float* x, int n, float mean) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += (x[j + k] - mean) * (x[j + k] - mean);
  float s = 0.f;
  for (; j < n; ++j) s += (x[j] - mean) * (x[j] - mean);
  for (int k = 0; k < 8; ++k) s += acc[k];
  return s;
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
    layers_[i].xhat.resize(rows * s.out);
    layers_[i].rstd.resize(s.norm ? rows : 0);
    layers_[i].y.resize(rows * s.out);
  }
  grad_a_.resize(rows * mlp.max_width());
  grad_b_.resize(rows * mlp.max_width());
  capacity_ = static_cast<int>(rows);
}

void mlp_forward(const Mlp& mlp, const float* params, MlpCache& cache, int rows, const float* mask) {
  kernels::init_threads();
  LUCID_CHECK(rows >= 0 && rows <= cache.capacity_)
      << "MLP batch of " << rows << " rows exceeds the cache's " << cache.capacity_;
  cache.rows_ = rows;
  cache.mask_ = mask;
  const float* x = cache.input_.data();
  for (std::size_t li = 0; li < mlp.layers().size(); ++li) {
    const LayerSpec& s = mlp.layers()[li];
    MlpCache::Layer& c = cache.layers_[li];
    float* h = c.xhat.data();
    kernels::gemm_rows_parallel_cpu(false, true, rows, s.out, s.in, x, s.in, params + s.w, s.in, 0.f, h,
                                    s.out);
    const float* bias = params + s.b;
    const float* gamma = params + s.gamma;
    const float* beta = params + s.beta;
    const float* m = (s.dropout && mask) ? mask : nullptr;
    // Rows are independent: one block of rows per thread once the layer is big enough.
#pragma omp parallel for schedule(static) if (static_cast <std::int64_t>(rows) * s.out > \
                                              kernels::kParallelGrain)
    for (int r = 0; r < rows; ++r) {
      float* hr = h + static_cast<std::size_t>(r) * s.out;
      float* yr = c.y.data() + static_cast<std::size_t>(r) * s.out;
      const float* mr = m ? m + static_cast<std::size_t>(r) * s.out : nullptr;
      for (int j = 0; j < s.out; ++j) hr[j] += bias[j];
      if (mr)
        for (int j = 0; j < s.out; ++j) hr[j] *= mr[j];
      if (!s.norm) {
        std::copy(hr, hr + s.out, yr);
        continue;
      }
      const float mean = row_sum(hr, s.out) / static_cast<float>(s.out);
      const float var = row_sq_dev(hr, s.out, mean) / static_cast<float>(s.out);
      const float rstd = 1.f / std::sqrt(var + kLayerNormEps);
      c.rstd[r] = rstd;
      for (int j = 0; j < s.out; ++j) {
        hr[j] = (hr[j] - mean) * rstd;
        yr[j] = hr[j] * gamma[j] + beta[j];
      }
      if (s.act == Activation::kMish) {
        for (int j = 0; j < s.out; ++j) yr[j] = mish_fast(yr[j]);
      } else if (s.act == Activation::kSimNorm) {
        const int g = mlp.simnorm_dim();
        for (int j0 = 0; j0 < s.out; j0 += g) {
          float mx = yr[j0];
          for (int j = 1; j < g; ++j) mx = std::max(mx, yr[j0 + j]);
          float sum = 0.f;
          for (int j = 0; j < g; ++j) {
            yr[j0 + j] = exp_poly(yr[j0 + j] - mx);
            sum += yr[j0 + j];
          }
          const float inv = 1.f / sum;
          for (int j = 0; j < g; ++j) yr[j0 + j] *= inv;
        }
      }
    }
    x = c.y.data();
  }
}

void mlp_backward(const Mlp& mlp, const float* params, float* grads, MlpCache& cache, const float* dy,
                  float* dx) {
  const int rows = cache.rows_;
  const int n_layers = static_cast<int>(mlp.layers().size());
  const float* d_out = dy;  // gradient w.r.t. the current layer's output
  for (int li = n_layers - 1; li >= 0; --li) {
    const LayerSpec& s = mlp.layers()[li];
    MlpCache::Layer& c = cache.layers_[li];
    const float* x = li == 0 ? cache.input_.data() : cache.layers_[li - 1].y.data();
    // dh: gradient w.r.t. the linear output (after bias and dropout); it may not alias d_out.
    float* dh = (d_out == cache.grad_a_.data()) ? cache.grad_b_.data() : cache.grad_a_.data();
    const float* gamma = params + s.gamma;
    const float* beta = params + s.beta;
    float* dgamma = grads ? grads + s.gamma : nullptr;
    float* dbeta = grads ? grads + s.beta : nullptr;
    const float* m = (s.dropout && cache.mask_) ? cache.mask_ : nullptr;
    for (int r = 0; r < rows; ++r) {
      const std::size_t o = static_cast<std::size_t>(r) * s.out;
      const float* gr = d_out + o;
      float* dhr = dh + o;
      if (!s.norm) {
        std::copy(gr, gr + s.out, dhr);
      } else {
        const float* xh = c.xhat.data() + o;
        const float* yr = c.y.data() + o;
        // du: gradient w.r.t. the LayerNorm output u = xhat * gamma + beta.
        if (s.act == Activation::kMish) {
          for (int j = 0; j < s.out; ++j) dhr[j] = gr[j] * mish_grad_fast(xh[j] * gamma[j] + beta[j]);
        } else if (s.act == Activation::kSimNorm) {
          const int g = mlp.simnorm_dim();
          for (int j0 = 0; j0 < s.out; j0 += g) {
            float dot = 0.f;
            for (int j = 0; j < g; ++j) dot += gr[j0 + j] * yr[j0 + j];
            for (int j = 0; j < g; ++j) dhr[j0 + j] = yr[j0 + j] * (gr[j0 + j] - dot);
          }
        } else {
          std::copy(gr, gr + s.out, dhr);
        }
        if (grads) {
          for (int j = 0; j < s.out; ++j) {
            dgamma[j] += dhr[j] * xh[j];
            dbeta[j] += dhr[j];
          }
        }
        // LayerNorm backward: dh = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)).
        for (int j = 0; j < s.out; ++j) dhr[j] *= gamma[j];
        const float mean_d = row_sum(dhr, s.out) / static_cast<float>(s.out);
        const float mean_dx = row_dot(dhr, xh, s.out) / static_cast<float>(s.out);
        const float rstd = c.rstd[r];
        for (int j = 0; j < s.out; ++j) dhr[j] = rstd * (dhr[j] - mean_d - xh[j] * mean_dx);
      }
      if (m) {
        const float* mr = m + o;
        for (int j = 0; j < s.out; ++j) dhr[j] *= mr[j];
      }
    }
    if (grads) {
      // dW (out, in) += dh^T x; db += column sums of dh.
      kernels::gemm_rows_parallel_cpu(true, false, s.out, s.in, rows, dh, s.out, x, s.in, 1.f, grads + s.w,
                                      s.in);
      float* db = grads + s.b;
      for (int r = 0; r < rows; ++r) {
        const float* dhr = dh + static_cast<std::size_t>(r) * s.out;
        for (int j = 0; j < s.out; ++j) db[j] += dhr[j];
      }
    }
    if (li == 0) {
      if (dx)
        kernels::gemm_rows_parallel_cpu(false, false, rows, s.in, s.out, dh, s.out, params + s.w, s.in, 0.f,
                                        dx, s.in);
    } else {
      float* d_in = (dh == cache.grad_a_.data()) ? cache.grad_b_.data() : cache.grad_a_.data();
      kernels::gemm_rows_parallel_cpu(false, false, rows, s.in, s.out, dh, s.out, params + s.w, s.in, 0.f,
                                      d_in, s.in);
      d_out = d_in;
    }
  }
}

}  // namespace lucid::models::tdmpc2
