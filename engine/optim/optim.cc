// Adam, grad-norm clipping and EMA over flat arenas (contracts in lucid/engine/optim.h); the
// arithmetic is in kernels/cpu/adam.cc and ema.cc (CUDA tensors: kernels/cuda/optim.cu through
// the engine's launcher table), this file checks sizes and keeps state.
#include "lucid/engine/optim.h"

#include <algorithm>
#include <cmath>

#include "lucid/engine/cuda_launchers.h"
#include "lucid/engine/memory.h"
#include "lucid/engine/profile.h"
#include "lucid/error.h"
#include "lucid/kernels/adam.h"
#include "lucid/kernels/ema.h"

namespace lucid {

Adam::Adam(std::size_t n, std::vector<ParamGroup> groups, AdamOptions options)
    : groups_(std::move(groups)), options_(options), exp_avg_(n, 0.0f), exp_avg_sq_(n, 0.0f) {
  if (groups_.empty()) groups_.push_back(ParamGroup{0, n, 1.0f});
  LUCID_CHECK(options_.beta1 >= 0.f && options_.beta1 < 1.f && options_.beta2 >= 0.f && options_.beta2 < 1.f)
      << "Adam betas must lie in [0, 1), got " << options_.beta1 << ", " << options_.beta2;
  std::vector<ParamGroup> sorted = groups_;
  std::sort(sorted.begin(), sorted.end(),
            [](const ParamGroup& a, const ParamGroup& b) { return a.offset < b.offset; });
  std::size_t end = 0;
  for (const ParamGroup& g : sorted) {
    LUCID_CHECK_SHAPE(g.offset + g.size <= n)
        << "param group [" << g.offset << ", " << g.offset + g.size << ") exceeds the arena of " << n;
    LUCID_CHECK_SHAPE(g.offset >= end) << "param groups overlap at offset " << g.offset;
    end = g.offset + g.size;
  }
}

void Adam::set_step_count(std::int64_t t) {
  LUCID_CHECK(t >= 0) << "Adam step count must be >= 0, got " << t;
  step_count_ = t;
}

void Adam::bias_corrections(float* c1, float* c2) const {
  const double t = static_cast<double>(step_count_);
  *c1 = static_cast<float>(1.0 - std::pow(static_cast<double>(options_.beta1), t));
  *c2 = static_cast<float>(1.0 - std::pow(static_cast<double>(options_.beta2), t));
}

void Adam::pull_to_host() const {
  if (!dev_exp_avg_.defined()) return;
  const std::size_t bytes = exp_avg_.size() * sizeof(float);
  DeviceBackend& dev = device_backend(Device::kCuda);
  dev.copy(exp_avg_.data(), Device::kCpu, dev_exp_avg_.data(), Device::kCuda, bytes);
  dev.copy(exp_avg_sq_.data(), Device::kCpu, dev_exp_avg_sq_.data(), Device::kCuda, bytes);
  dev_exp_avg_ = Tensor();
  dev_exp_avg_sq_ = Tensor();
}

void Adam::step(const Tensor& params, const Tensor& grads) {
  LUCID_CHECK(params.device() == grads.device())
      << "Adam: params on " << device_name(params.device()) << ", grads on " << device_name(grads.device());
  LUCID_CHECK_SHAPE(static_cast<std::size_t>(params.numel()) == size() &&
                    static_cast<std::size_t>(grads.numel()) == size())
      << "Adam over " << size() << " params got params " << params.numel() << " and grads " << grads.numel();
  const ProfileRange range("engine/adam_step");
  if (params.is_cpu()) {
    step({params.data(), size()}, {grads.data(), size()});
    params.bump_version();
    return;
  }
  const CudaLaunchers& k = cuda_launchers();
  kernels::AdamGroups groups;
  LUCID_CHECK(groups_.size() <= static_cast<std::size_t>(kernels::AdamGroups::kMax))
      << "Adam on CUDA takes at most " << kernels::AdamGroups::kMax << " parameter groups, got "
      << groups_.size();
  for (const ParamGroup& g : groups_) {
    groups.offset[groups.count] = g.offset;
    groups.size[groups.count] = g.size;
    groups.lr[groups.count] = options_.lr * g.lr_scale;
    ++groups.count;
  }
  if (!dev_exp_avg_.defined()) {  // first CUDA step, or after the host state was read or restored
    const Shape shape{static_cast<std::int64_t>(size())};
    dev_exp_avg_ = Tensor::from(exp_avg_, shape, Device::kCuda);
    dev_exp_avg_sq_ = Tensor::from(exp_avg_sq_, shape, Device::kCuda);
  }
  ++step_count_;
  float bias_c1, bias_c2;
  bias_corrections(&bias_c1, &bias_c2);
  k.adam_arena_step(params.data(), grads.data(), dev_exp_avg_.data(), dev_exp_avg_sq_.data(), groups,
                    options_.beta1, options_.beta2, options_.eps, bias_c1, bias_c2, k.stream);
  params.bump_version();
}

void Adam::step(std::span<float> params, std::span<const float> grads) {
  LUCID_CHECK_SHAPE(params.size() == size() && grads.size() == size())
      << "Adam over " << size() << " params got params " << params.size() << " and grads " << grads.size();
  pull_to_host();
  ++step_count_;
  float bias_c1, bias_c2;
  bias_corrections(&bias_c1, &bias_c2);
  for (const ParamGroup& g : groups_) {
    kernels::adam_step_cpu(params.data() + g.offset, grads.data() + g.offset, exp_avg_.data() + g.offset,
                           exp_avg_sq_.data() + g.offset, g.size, options_.lr * g.lr_scale, options_.beta1,
                           options_.beta2, options_.eps, bias_c1, bias_c2);
  }
}

float clip_grad_norm(std::span<float> grads, float max_norm) {
  LUCID_CHECK(max_norm > 0.f) << "clip_grad_norm needs max_norm > 0, got " << max_norm;
  const float norm = static_cast<float>(std::sqrt(kernels::sumsq_cpu(grads.data(), grads.size())));
  if (!std::isfinite(norm)) return norm;
  const float coef = max_norm / (norm + 1e-6f);
  if (coef < 1.0f) kernels::scale_cpu(grads.data(), grads.size(), coef);
  return norm;
}

float clip_grad_norm(const Tensor& grads, float max_norm) {
  const ProfileRange range("engine/clip_grad_norm");
  if (grads.is_cpu()) {
    const float norm =
        clip_grad_norm(std::span<float>(grads.data(), static_cast<std::size_t>(grads.numel())), max_norm);
    grads.bump_version();
    return norm;
  }
  LUCID_CHECK(max_norm > 0.f) << "clip_grad_norm needs max_norm > 0, got " << max_norm;
  const CudaLaunchers& k = cuda_launchers();
  const auto n = static_cast<std::size_t>(grads.numel());
  // The device-side clip reads the sum of squares on the device (one double: 2 floats of storage)
  // and leaves non-finite norms alone, as the CPU path does; only the norm comes back.
  const Tensor scratch = Tensor::empty(Shape{3}, Device::kCuda);
  double* sumsq = reinterpret_cast<double*>(scratch.data());
  float* norm_dev = scratch.data() + 2;
  k.sumsq(grads.data(), n, sumsq, k.stream);
  k.clip_by_norm(grads.data(), n, sumsq, max_norm, norm_dev, k.stream);
  grads.bump_version();
  float norm = 0.f;
  device_backend(Device::kCuda).copy(&norm, Device::kCpu, norm_dev, Device::kCuda, sizeof(float));
  return norm;
}

void ema_update(const Tensor& target, const Tensor& source, float tau) {
  LUCID_CHECK(target.device() == source.device()) << "ema_update: target on " << device_name(target.device())
                                                  << ", source on " << device_name(source.device());
  LUCID_CHECK_SHAPE(target.numel() == source.numel())
      << "ema_update: target has " << target.numel() << " floats, source " << source.numel();
  const ProfileRange range("engine/ema_update");
  const auto n = static_cast<std::size_t>(target.numel());
  if (target.is_cpu())
    kernels::ema_lerp_cpu(target.data(), source.data(), n, tau);
  else
    cuda_launchers().ema_lerp(target.data(), source.data(), n, tau, cuda_launchers().stream);
  target.bump_version();
}

void ema_update(std::span<float> target, std::span<const float> source, float tau) {
  LUCID_CHECK_SHAPE(target.size() == source.size())
      << "ema_update: target has " << target.size() << " floats, source " << source.size();
  kernels::ema_lerp_cpu(target.data(), source.data(), target.size(), tau);
}

}  // namespace lucid
