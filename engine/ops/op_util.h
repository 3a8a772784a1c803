// Helpers shared by the op implementations (private to engine/ops).
//
// Device dispatch lives here. Every op asks on_cuda(op, inputs) before touching data: it checks
// that all defined inputs share one device (a mixed-device call is a lucid::Error naming both
// devices) and answers whether that device is CUDA; a CUDA op then calls its launcher through
// gpu() — the table use_cuda_device() registered (lucid/engine/cuda_launchers.h) — on the
// engine's one compute stream, and allocates its outputs on the inputs' device.
#pragma once

#include <initializer_list>
#include <vector>

#include "lucid/engine/autograd.h"
#include "lucid/engine/cuda_launchers.h"
#include "lucid/engine/tensor.h"
#include "lucid/error.h"
#include "lucid/kernels/elementwise.h"

namespace lucid::ops_detail {

// The device every defined tensor of `ts` lives on (kCpu when none is defined).
inline Device common_device(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t || !t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    LUCID_CHECK(t->device() == first->device())
        << op << ": inputs on different devices (" << device_name(first->device()) << " and "
        << device_name(t->device()) << "); move them with Tensor::to() first";
  }
  return first ? first->device() : Device::kCpu;
}
inline Device common_device(const char* op, const std::vector<Tensor>& ts) {
  Device d = Device::kCpu;
  for (std::size_t i = 0; i < ts.size(); ++i) d = common_device(op, {&ts[0], &ts[i]});
  return d;
}

inline bool on_cuda(const char* op, std::initializer_list<const Tensor*> ts) {
  return common_device(op, ts) == Device::kCuda;
}

// The launchers of the registered CUDA backend (throws when none is).
inline const CudaLaunchers& gpu() { return cuda_launchers(); }

// Left-padded 4-D extents, the broadcasting view of the elementwise kernels.
inline kernels::Dims4 dims4(const Shape& s) {
  kernels::Dims4 d{{1, 1, 1, 1}};
  for (int i = 0; i < s.dim(); ++i) d.d[kMaxDims - s.dim() + i] = s[i];
  return d;
}

inline void require_defined(const char* op, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts) LUCID_CHECK(t->defined()) << op << ": undefined input tensor";
}

// A saved tensor without history, so a node capturing an op's output does not keep a cycle
// (output -> grad_fn -> output) alive.
inline Tensor saved(const Tensor& t) { return t.defined() ? t.detach() : t; }

// `s` with its last dim replaced by n, or removed.
inline Shape with_last(const Shape& s, std::int64_t n) {
  std::vector<std::int64_t> d = s.vec();
  d.back() = n;
  return Shape(d);
}
inline Shape without_last(const Shape& s) {
  std::vector<std::int64_t> d = s.vec();
  d.pop_back();
  return Shape(d);
}

template <typename F>
std::shared_ptr<LambdaNode> node(const char* name, F&& f) {
  return std::make_shared<LambdaNode>(name, std::forward<F>(f));
}

}  // namespace lucid::ops_detail
