// Reverse-mode autodiff on a tape of single-output nodes.
//
// An op records a Node when grad mode is on and any input requires grad. Each node holds, per
// input, an Edge to where that input's gradient goes: the producing node, or the leaf tensor
// itself. Nodes carry a sequence number from a thread-local counter, so "reverse tape order" is
// simply descending sequence number over the nodes reachable from the outputs.
//
// backward(loss): gradients of loss w.r.t. every leaf that requires grad, accumulated (+=) into
// leaf.grad(). A leaf that already has a grad buffer (a parameter arena view) receives the
// gradient in place: ops such as linear accumulate their weight GEMM straight into it (beta = 1).
//
// grad(outputs, inputs): gradients w.r.t. the chosen inputs only, returned, not accumulated.
// The tape is pruned to nodes that lie on a path from an input to an output, and each node is
// asked only for the input gradients that lead to a chosen input — so no weight-gradient GEMM,
// no LayerNorm gamma/beta reduction is done. Gradient-based planners (Dream-MPC) rely on this.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lucid/engine/tensor.h"

namespace lucid {

struct Edge {
  std::shared_ptr<Node> fn;          // gradient flows into this node's output, or
  std::shared_ptr<TensorImpl> leaf;  // into this leaf; both null: the input needs no gradient
  bool active() const { return fn || leaf; }
};

// What a node's backward sees: the output gradient, which input gradients are wanted, and where
// to put them.
class BackwardContext {
 public:
  const Tensor& grad_out() const { return grad_out_; }
  bool needs(int i) const { return needs_[i]; }
  // Hands over the gradient of input i (written by the op with `=`; the engine accumulates).
  void set(int i, Tensor g);
  // When input i is a leaf that already owns a grad buffer and we are in backward() mode, returns
  // that buffer so the op can accumulate into it (+=) directly; then it must call accumulated(i).
  Tensor accumulate_target(int i) const;
  void accumulated(int i);

 private:
  friend class Engine;
  Tensor grad_out_;
  std::vector<bool> needs_;
  std::vector<Tensor> grads_;
  std::vector<bool> done_in_place_;
  std::vector<Tensor> targets_;
};

struct Node {
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  virtual void backward(BackwardContext& ctx) = 0;

  std::vector<Edge> edges;  // one per differentiable input, in the op's argument order
  std::uint64_t seq = 0;
  Shape out_shape;

  // Scratch of the runner during one backward()/grad() (a graph is run by one thread at a time):
  // kept on the node so a run needs no hash maps, only one vector of the reachable nodes.
  struct RunState {
    std::uint64_t epoch = 0;  // run that last visited this node
    bool relevant = false;    // on a path to a wanted gradient
    bool owned = false;       // `pending` is the runner's own buffer (safe to += into)
    int target = -1;          // index into grad()'s inputs when this node's output is one
    Tensor pending;           // sum of the gradients that reached this node's output so far
  } run;
};

// A node whose backward is a lambda: most ops are a few lines, and the captures are exactly the
// saved tensors (forward saves what backward reads).
struct LambdaNode final : Node {
  using Fn = std::function<void(BackwardContext&)>;
  LambdaNode(const char* n, Fn f) : name_(n), fn_(std::move(f)) {}
  const char* name() const override { return name_; }
  void backward(BackwardContext& ctx) override { fn_(ctx); }

 private:
  const char* name_;
  Fn fn_;
};

// ---- grad mode ----
bool grad_enabled();
class NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool prev_;
};

// True when an op with these inputs must record a node.
bool needs_record(std::initializer_list<const Tensor*> inputs);
// Attaches `node` as out's grad_fn with one edge per input (inactive edges for inputs not
// requiring grad); out.requires_grad becomes true.
void record(Tensor& out, std::shared_ptr<Node> node, std::initializer_list<const Tensor*> inputs);
void record(Tensor& out, std::shared_ptr<Node> node, const std::vector<Tensor>& inputs);

// ---- running the tape ----
// loss must have one element unless grad_out is given (same shape as loss).
void backward(const Tensor& loss, const Tensor& grad_out = Tensor());
// Returns d(sum_k <grad_outputs[k], outputs[k]>)/d inputs[i]; a grad_output may be undefined for a
// one-element output (taken as 1). An input that does not influence the outputs gets zeros.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {});

// Counters for tests and benchmarks: how much backward work ran.
struct AutogradStats {
  std::uint64_t nodes_run = 0;             // node backward calls
  std::uint64_t input_grads = 0;           // input gradients produced (set or accumulated in place)
  std::uint64_t leaf_grads_to_params = 0;  // gradients delivered into leaf.grad()
  std::uint64_t weight_grad_gemms = 0;     // GEMMs computing a weight gradient (linear, ensemble, GRU)
  std::uint64_t unrequested_grads = 0;     // gradients an op produced though not asked (should stay 0)
};
AutogradStats& autograd_stats();  // thread-local
void reset_autograd_stats();

}  // namespace lucid
