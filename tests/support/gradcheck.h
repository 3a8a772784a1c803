// Finite-difference gradient checks for lucid ops.
//
// gradcheck(f, inputs) compares the tape's gradient of L = sum(w * f(inputs)) — w a fixed random
// projection, so every output element matters with a different weight — against central
// differences (L(x + h) - L(x - h)) / 2h taken element by element. L is accumulated in double
// from the fp32 outputs, which keeps the reference's rounding error near fp32 epsilon / h.
// Inputs should sit away from kinks (relu at 0, clamp bounds, max ties): the caller picks them.
// With options.device = kCuda the analytic gradient is taken on the device (inputs copied there)
// while the finite differences still run on the CPU inputs: the CPU is the oracle.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <sstream>
#include <vector>

#include "lucid/engine/autograd.h"
#include "lucid/engine/tensor.h"

namespace lucid::testing {

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradcheckOptions {
  double step = 1e-2;  // h, in units of max(1, |x|)
  double atol = 2e-3;
  double rtol = 2e-2;
  unsigned seed = 7;
  std::vector<bool> check;       // which inputs to check (default: all)
  Device device = Device::kCpu;  // where the analytic gradient is computed
};

// A tensor of uniform values in [lo, hi), deterministic from seed.
inline Tensor uniform_tensor(const Shape& shape, float lo, float hi, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(shape.numel()));
  for (float& x : v) x = u(gen);
  return Tensor::from(v, shape);
}

inline ::testing::AssertionResult gradcheck(const TensorFn& f, std::vector<Tensor> inputs,
                                            GradcheckOptions opt = {}) {
  for (Tensor& x : inputs) x.set_requires_grad(true);
  Tensor y = f(inputs);
  if (!y.requires_grad()) return ::testing::AssertionFailure() << "output does not require grad";
  const Tensor w = uniform_tensor(y.shape(), -1.f, 1.f, opt.seed);
  auto loss_of = [&](const Tensor& out) {
    double s = 0.0;
    const float* o = out.data();
    const float* wp = w.data();
    for (std::int64_t i = 0; i < out.numel(); ++i) s += static_cast<double>(o[i]) * wp[i];
    return s;
  };
  std::vector<Tensor> analytic;
  if (opt.device == Device::kCpu) {
    analytic = grad({y}, inputs, {w});
  } else {
    std::vector<Tensor> on_device;
    for (const Tensor& x : inputs) on_device.push_back(x.to(opt.device).set_requires_grad(true));
    const Tensor yd = f(on_device);
    if (yd.device() != opt.device) return ::testing::AssertionFailure() << "output not on the device";
    for (const Tensor& g : grad({yd}, on_device, {w.to(opt.device)})) analytic.push_back(g.to(Device::kCpu));
  }

  std::ostringstream fails;
  int bad = 0;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    if (!opt.check.empty() && !opt.check[k]) continue;
    float* p = inputs[k].data();
    const float* g = analytic[k].data();
    for (std::int64_t i = 0; i < inputs[k].numel(); ++i) {
      const float x0 = p[i];
      const double h = opt.step * std::max(1.0, std::abs(static_cast<double>(x0)));
      double lp, lm;
      {
        NoGrad ng;  // writes through data() bump the version, so cached packed weights notice
        p[i] = static_cast<float>(x0 + h);
        inputs[k].bump_version();
        lp = loss_of(f(inputs));
        p[i] = static_cast<float>(x0 - h);
        inputs[k].bump_version();
        lm = loss_of(f(inputs));
        p[i] = x0;
        inputs[k].bump_version();
      }
      // The step actually taken in fp32.
      const double hp = static_cast<double>(static_cast<float>(x0 + h)) - x0;
      const double hm = x0 - static_cast<double>(static_cast<float>(x0 - h));
      const double numeric = (lp - lm) / (hp + hm);
      if (!(std::abs(numeric - g[i]) <= opt.atol + opt.rtol * std::abs(numeric))) {
        if (bad < 5)
          fails << "\n  input " << k << " [" << i << "]: analytic " << g[i] << ", numeric " << numeric;
        ++bad;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " gradient elements differ:" << fails.str();
}

}  // namespace lucid::testing
