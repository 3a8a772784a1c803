// Adam, grad-norm clipping and EMA over flat arenas (contracts in lucid/engine/optim.h); the
// arithmetic is in kernels/cpu/adam.cc and ema.cc, this file checks sizes and keeps state.
#include "lucid/engine/optim.h"

#include <algorithm>
#include <cmath>

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

void Adam::step(std::span<float> params, std::span<const float> grads) {
  LUCID_CHECK_SHAPE(params.size() == size() && grads.size() == size())
      << "Adam over " << size() << " params got params " << params.size() << " and grads " << grads.size();
  ++step_count_;
  const double t = static_cast<double>(step_count_);
  const float bias_c1 = static_cast<float>(1.0 - std::pow(static_cast<double>(options_.beta1), t));
  const float bias_c2 = static_cast<float>(1.0 - std::pow(static_cast<double>(options_.beta2), t));
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

void ema_update(std::span<float> target, std::span<const float> source, float tau) {
  LUCID_CHECK_SHAPE(target.size() == source.size())
      << "ema_update: target has " << target.size() << " floats, source " << source.size();
  kernels::ema_lerp_cpu(target.data(), source.data(), target.size(), tau);
}

}  // namespace lucid
