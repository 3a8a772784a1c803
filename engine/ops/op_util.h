// Helpers shared by the op implementations (private to engine/ops).
//
// Device dispatch lives here: every op calls require_cpu() before touching data, which is the
// single place a CUDA backend hooks in (until then CUDA tensors throw "CUDA backend not built").
#pragma once

#include <initializer_list>

#include "lucid/engine/autograd.h"
#include "lucid/engine/tensor.h"
#include "lucid/error.h"

namespace lucid::ops_detail {

inline void require_cpu(const char* op, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts) {
    if (!t || !t->defined()) continue;
    LUCID_CHECK(t->is_cpu()) << op << ": CUDA backend not built (tensor on " << device_name(t->device())
                             << ")";
  }
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
