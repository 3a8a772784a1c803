// TD-MPC2 inference on the device (see model_cuda.h for the launch plan and contracts), and the
// Tdmpc2Model hook that owns the twin.
#include "lucid/models/tdmpc2/model_cuda.h"

#include <algorithm>
#include <vector>

#include "lucid/engine/cuda_launchers.h"
#include "lucid/error.h"

namespace lucid::models::tdmpc2 {
namespace {

// Each head's output-layer bias, stacked (num_q, bins), from an arena (or the target block, whose
// offsets start at q_begin).
std::vector<float> stack_out_bias(const Tdmpc2Layout& layout, const float* base, std::size_t base_offset) {
  std::vector<float> out;
  for (const Mlp& m : layout.q) {
    const LayerSpec& l = m.layers().back();
    const float* b = base + (m.begin() - base_offset) + l.b;
    out.insert(out.end(), b, b + l.out);
  }
  return out;
}

// dst = host, in place once dst exists: the device addresses of the weights never change, so
// CUDA graphs that read them see every later upload.
void upload(Tensor& dst, std::span<const float> host, Shape shape) {
  const Tensor src = Tensor::from(std::vector<float>(host.begin(), host.end()), shape);
  if (!dst.defined()) dst = Tensor::empty(shape, Device::kCuda);
  dst.copy_from(src);
}

}  // namespace

bool on_cuda(std::initializer_list<std::reference_wrapper<const Tensor>> tensors, const char* query) {
  int cuda = 0, total = 0;
  for (const Tensor& t : tensors) {
    if (!t.defined()) continue;  // an optional input (pi eps) left out
    ++total;
    cuda += t.device() == Device::kCuda;
  }
  LUCID_CHECK(cuda == 0 || cuda == total)
      << "TD-MPC2 " << query << ": " << cuda << " of " << total
      << " tensors are on the CUDA device; a query's tensors must all be on one device";
  return cuda > 0;
}

Tdmpc2Cuda::Tdmpc2Cuda(const Tdmpc2Model& model) : cfg_(model.config()), layout_(model.layout()) {
  cuda_launchers();  // throws the "no CUDA backend" error here rather than mid-query
  sync(model);
}

void Tdmpc2Cuda::sync(const Tdmpc2Model& model) {
  if (params_.defined() && version_ == model.weights_version()) return;
  const std::span<const float> p = model.params(), t = model.target_q();
  upload(params_, p, Shape{static_cast<std::int64_t>(p.size())});
  upload(target_q_, t, Shape{static_cast<std::int64_t>(t.size())});
  const Shape bias_shape{cfg_.num_q, cfg_.num_bins};
  upload(q_out_bias_, stack_out_bias(layout_, p.data(), 0), bias_shape);
  upload(target_q_out_bias_, stack_out_bias(layout_, t.data(), layout_.q_begin()), bias_shape);
  version_ = model.weights_version();
}

void Tdmpc2Cuda::reserve(int rows) {
  for (const Mlp* m : {&layout_.encoder, &layout_.dynamics, &layout_.reward, &layout_.pi, &layout_.q.front()})
    mlp_.reserve(*m, rows);
  if (rows <= rows_) return;
  for (Tensor* t : {&logits_, &pi_raw_, &v_})
    if (t->defined()) retired_.push_back(*t);  // kept alive: captured graphs may still use them
  logits_ = Tensor::empty(Shape{cfg_.num_q, rows, cfg_.num_bins}, Device::kCuda);
  pi_raw_ = Tensor::empty(Shape{rows, 2 * cfg_.action_dim}, Device::kCuda);
  v_ = Tensor::empty(Shape{rows}, Device::kCuda);
  rows_ = rows;
}

void Tdmpc2Cuda::encode(const float* obs, int rows, float* z) {
  reserve(rows);
  mlp_forward_cuda(layout_.encoder, block(layout_.encoder), {.x = obs, .x_dim = cfg_.obs_dim}, rows, mlp_, z);
}

void Tdmpc2Cuda::next(const float* z, const float* a, int rows, float* z_next) {
  reserve(rows);
  const MlpInputCuda in{.prefix = z, .prefix_dim = cfg_.latent_dim, .x = a, .x_dim = cfg_.action_dim};
  mlp_forward_cuda(layout_.dynamics, block(layout_.dynamics), in, rows, mlp_, z_next);
}

void Tdmpc2Cuda::reward(const float* z, const float* a, int rows, float* r) {
  reserve(rows);
  const MlpInputCuda in{.prefix = z, .prefix_dim = cfg_.latent_dim, .x = a, .x_dim = cfg_.action_dim};
  mlp_forward_cuda(layout_.reward, block(layout_.reward), in, rows, mlp_, logits_.data());
  const CudaLaunchers& k = cuda_launchers();
  k.q_head_decode_forward(logits_.data(), block(layout_.reward) + layout_.reward.layers().back().b, nullptr,
                          r, 1, rows, cfg_.num_bins, cfg_.vmin, cfg_.vmax, 0, 0, kernels::QCombine::kAvg,
                          k.stream);
}

void Tdmpc2Cuda::step_from_shared(const float* z_shared, const float* a, int rows, float* r, float* z_next) {
  reserve(rows);
  const MlpInputCuda in{.prefix = z_shared,
                        .prefix_dim = cfg_.latent_dim,
                        .prefix_shared = true,
                        .x = a,
                        .x_dim = cfg_.action_dim};
  mlp_forward_cuda(layout_.reward, block(layout_.reward), in, rows, mlp_, logits_.data());
  const CudaLaunchers& k = cuda_launchers();
  k.q_head_decode_forward(logits_.data(), block(layout_.reward) + layout_.reward.layers().back().b, nullptr,
                          r, 1, rows, cfg_.num_bins, cfg_.vmin, cfg_.vmax, 0, 0, kernels::QCombine::kAvg,
                          k.stream);
  mlp_forward_cuda(layout_.dynamics, block(layout_.dynamics), in, rows, mlp_, z_next);
}

void Tdmpc2Cuda::q_heads(const float* z, const float* a, int rows, int head_a, int head_b, bool all,
                         bool use_target, float* values, float* v) {
  reserve(rows);
  const MlpInputCuda in{.prefix = z, .prefix_dim = cfg_.latent_dim, .x = a, .x_dim = cfg_.action_dim};
  const std::size_t slot = static_cast<std::size_t>(rows) * cfg_.num_bins;
  for (int h = 0; h < cfg_.num_q; ++h) {
    if (!all && h != head_a && h != head_b) continue;
    const Mlp& m = layout_.q[static_cast<std::size_t>(h)];
    const float* p = use_target ? target_q_.data() + (m.begin() - layout_.q_begin()) : block(m);
    mlp_forward_cuda(m, p, in, rows, mlp_, logits_.data() + slot * h);
  }
  const CudaLaunchers& k = cuda_launchers();
  k.q_head_decode_forward(logits_.data(), (use_target ? target_q_out_bias_ : q_out_bias_).data(), values, v,
                          cfg_.num_q, rows, cfg_.num_bins, cfg_.vmin, cfg_.vmax, head_a, head_b,
                          kernels::QCombine::kAvg, k.stream);
}

void Tdmpc2Cuda::q(const float* z, const float* a, int rows, std::span<const int> heads, bool use_target,
                   float* v) {
  for (int h : heads)
    LUCID_CHECK(h >= 0 && h < cfg_.num_q) << "Q head " << h << " out of range [0, " << cfg_.num_q << ")";
  if (heads.empty() && cfg_.num_q <= 2) {
    q_heads(z, a, rows, 0, cfg_.num_q - 1, false, use_target, nullptr, v);
    return;
  }
  LUCID_CHECK(heads.size() == 1 || heads.size() == 2)
      << "TD-MPC2 on CUDA: Q over " << (heads.empty() ? cfg_.num_q : static_cast<int>(heads.size()))
      << " heads is not supported on the device (1 or 2 heads: the planners' terminal value)";
  q_heads(z, a, rows, heads.front(), heads.back(), false, use_target, nullptr, v);
}

void Tdmpc2Cuda::q_ensemble(const float* z, const float* a, int rows, float* vs) {
  reserve(rows);
  q_heads(z, a, rows, 0, cfg_.num_q - 1, true, false, vs, v_.data());
}

void Tdmpc2Cuda::pi(const float* z, const float* eps, int rows, float* mean, float* log_std, float* action) {
  reserve(rows);
  mlp_forward_cuda(layout_.pi, block(layout_.pi), {.x = z, .x_dim = cfg_.latent_dim}, rows, mlp_,
                   pi_raw_.data());
  const CudaLaunchers& k = cuda_launchers();
  k.policy_squash(pi_raw_.data(), block(layout_.pi) + layout_.pi.layers().back().b, eps, mean, log_std,
                  action, rows, cfg_.action_dim, cfg_.log_std_min, cfg_.log_std_max, k.stream);
}

Tdmpc2Cuda& Tdmpc2Model::cuda_twin() const {
  LUCID_CHECK(!cfg_.multitask()) << "TD-MPC2 on CUDA: the device twin has no task embedding yet ("
                                 << cfg_.num_tasks << " tasks); plan multitask models on the CPU";
  if (!cuda_) cuda_ = std::make_shared<Tdmpc2Cuda>(*this);
  cuda_->sync(*this);
  return *cuda_;
}

}  // namespace lucid::models::tdmpc2
