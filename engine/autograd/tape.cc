// The tape: recording nodes, and running them in reverse for backward() and grad() (autograd.h).
//
// Both entry points share one runner. It collects the nodes reachable from the outputs, orders
// them by descending sequence number (a valid reverse topological order: a node is always
// recorded after the nodes of its inputs), and calls each node's backward once, after every
// gradient flowing into its output has been summed. grad() first marks which nodes lie on a path
// to a chosen input and asks each node only for the input gradients on such a path.
#include <algorithm>

#include "lucid/engine/autograd.h"
#include "lucid/engine/cuda_launchers.h"
#include "lucid/engine/profile.h"
#include "lucid/error.h"

namespace lucid {
namespace {

thread_local bool t_grad_enabled = true;
thread_local std::uint64_t t_seq = 0;
thread_local AutogradStats t_stats;

// dst += src (same numel, same device). The engine's only arithmetic of its own; on CUDA it is
// one accumulate launch through the registered launcher table.
void add_into(const Tensor& dst, const Tensor& src) {
  LUCID_CHECK(dst.device() == src.device())
      << "gradients on different devices meet in backward (" << device_name(dst.device()) << " and "
      << device_name(src.device()) << ")";
  if (dst.device() == Device::kCuda) {
    cuda_launchers().accumulate(dst.data(), src.data(), dst.numel(), cuda_launchers().stream);
    return;
  }
  float* d = dst.data();
  const float* s = src.data();
  const std::int64_t n = dst.numel();
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) d[i] += s[i];
}

struct Pending {
  Tensor grad;
  bool owned = false;  // grad's buffer belongs to the runner, so += into it is safe

  void add(const Tensor& g) {
    if (!grad.defined()) {
      grad = g;
      return;
    }
    if (!owned) {
      grad = grad.clone();
      owned = true;
    }
    add_into(grad, g);
  }
};

}  // namespace

// ---- BackwardContext ----
void BackwardContext::set(int i, Tensor g) { grads_[i] = std::move(g); }

Tensor BackwardContext::accumulate_target(int i) const { return targets_[i]; }

void BackwardContext::accumulated(int i) {
  LUCID_CHECK(targets_[i].defined()) << "accumulated(" << i << ") without an accumulate target";
  done_in_place_[i] = true;
}

// ---- recording ----
bool grad_enabled() { return t_grad_enabled; }
NoGrad::NoGrad() : prev_(t_grad_enabled) { t_grad_enabled = false; }
NoGrad::~NoGrad() { t_grad_enabled = prev_; }

bool needs_record(std::initializer_list<const Tensor*> inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && t->requires_grad()) return true;
  return false;
}

namespace {
Edge edge_of(const Tensor* t) {
  Edge e;
  if (t && t->defined() && t->requires_grad()) {
    if (t->grad_fn())
      e.fn = t->grad_fn();
    else
      e.leaf = t->impl();
  }
  return e;
}

void finish_record(Tensor& out, const std::shared_ptr<Node>& node) {
  node->seq = ++t_seq;
  node->out_shape = out.shape();
  out.impl()->grad_fn = node;
  out.impl()->requires_grad = true;
}
}  // namespace

void record(Tensor& out, std::shared_ptr<Node> node, std::initializer_list<const Tensor*> inputs) {
  node->edges.clear();
  for (const Tensor* t : inputs) node->edges.push_back(edge_of(t));
  finish_record(out, node);
}

void record(Tensor& out, std::shared_ptr<Node> node, const std::vector<Tensor>& inputs) {
  node->edges.clear();
  for (const Tensor& t : inputs) node->edges.push_back(edge_of(&t));
  finish_record(out, node);
}

AutogradStats& autograd_stats() { return t_stats; }
void reset_autograd_stats() { t_stats = AutogradStats{}; }

// ---- the runner ----
namespace {
thread_local std::uint64_t t_epoch = 0;
thread_local std::vector<Node*> t_order;  // reused: a steady-state backward allocates no containers
thread_local std::vector<Node*> t_stack;

void add_pending(Node* n, const Tensor& g) {
  Node::RunState& r = n->run;
  if (!r.pending.defined()) {
    r.pending = g;
    r.owned = false;
    return;
  }
  if (!r.owned) {
    r.pending = r.pending.clone();
    r.owned = true;
  }
  add_into(r.pending, g);
}
}  // namespace

class Engine {
 public:
  // targets empty: backward() mode (every active edge, leaves accumulate into .grad).
  explicit Engine(const std::vector<Tensor>& targets) : targets_(targets), grad_mode_(!targets.empty()) {
    epoch_ = ++t_epoch;
    results_.resize(targets.size());
    for (std::size_t k = 0; k < targets.size(); ++k) {
      const Tensor& t = targets[k];
      LUCID_CHECK(t.defined()) << "grad(): input " << k << " is undefined";
      LUCID_CHECK(t.requires_grad()) << "grad(): input " << k << " does not require grad";
    }
  }

  void run(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs) {
    std::vector<Node*>& order = t_order;
    std::vector<Node*>& stack = t_stack;
    order.clear();
    stack.clear();
    auto visit = [&](Node* n) {
      if (n->run.epoch == epoch_) return;
      n->run = Node::RunState{};
      n->run.epoch = epoch_;
      order.push_back(n);
      stack.push_back(n);
    };

    // Seed the output gradients.
    std::vector<std::pair<Node*, Tensor>> seeds;
    for (std::size_t k = 0; k < outputs.size(); ++k) {
      const Tensor& y = outputs[k];
      LUCID_CHECK(y.defined() && y.requires_grad()) << "output " << k << " does not require grad";
      Tensor g = k < grad_outputs.size() ? grad_outputs[k] : Tensor();
      if (!g.defined()) {
        LUCID_CHECK_SHAPE(y.numel() == 1)
            << "output " << k << " has shape " << y.shape().str() << ": pass its gradient explicitly";
        g = Tensor::ones(y.shape(), y.device());
      }
      LUCID_CHECK_SHAPE(g.shape() == y.shape())
          << "gradient " << g.shape().str() << " for output " << y.shape().str();
      if (y.grad_fn()) {
        visit(y.grad_fn().get());
        seeds.emplace_back(y.grad_fn().get(), g);
      } else {
        deliver_leaf(y.impl().get(), g);  // an output that is itself a leaf
      }
    }
    // Collect the reachable nodes.
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      for (const Edge& e : n->edges)
        if (e.fn) visit(e.fn.get());
    }
    for (auto& [n, g] : seeds) add_pending(n, g);
    for (std::size_t k = 0; k < targets_.size(); ++k)
      if (Node* n = targets_[k].grad_fn().get(); n && n->run.epoch == epoch_)
        n->run.target = static_cast<int>(k);

    // Ascending sequence: a node's inputs are decided before the node itself.
    std::sort(order.begin(), order.end(), [](Node* a, Node* b) { return a->seq < b->seq; });
    for (Node* n : order) {
      bool any = false;
      for (const Edge& e : n->edges) any = any || wanted(e);
      n->run.relevant = any;
    }

    BackwardContext& ctx = ctx_;
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      Node* n = *it;
      Node::RunState& r = n->run;
      if (!r.pending.defined()) continue;
      Tensor g = std::move(r.pending);
      r.pending = Tensor();
      if (r.target >= 0) results_[r.target].add(g);
      if (!r.relevant) continue;

      const std::size_t m = n->edges.size();
      ctx.grad_out_ = std::move(g);
      ctx.needs_.assign(m, false);
      ctx.grads_.assign(m, Tensor());
      ctx.done_in_place_.assign(m, false);
      ctx.targets_.assign(m, Tensor());
      for (std::size_t i = 0; i < m; ++i) {
        const Edge& e = n->edges[i];
        ctx.needs_[i] = wanted(e);
        if (!grad_mode_ && e.leaf && e.leaf->grad.defined()) ctx.targets_[i] = e.leaf->grad;
      }
      n->backward(ctx);
      ++t_stats.nodes_run;

      for (std::size_t i = 0; i < m; ++i) {
        const Edge& e = n->edges[i];
        if (ctx.done_in_place_[i]) {
          ++t_stats.input_grads;
          ++t_stats.leaf_grads_to_params;
          continue;
        }
        Tensor& gi = ctx.grads_[i];
        if (!gi.defined()) continue;
        if (!ctx.needs_[i]) {
          ++t_stats.unrequested_grads;
          continue;
        }
        ++t_stats.input_grads;
        if (e.fn) {
          LUCID_CHECK_SHAPE(gi.shape() == e.fn->out_shape)
              << n->name() << " backward: input " << i << " gradient " << gi.shape().str() << ", expected "
              << e.fn->out_shape.str();
          add_pending(e.fn.get(), gi);
        } else if (e.leaf) {
          LUCID_CHECK_SHAPE(gi.shape() == e.leaf->shape)
              << n->name() << " backward: input " << i << " gradient " << gi.shape().str() << ", expected "
              << e.leaf->shape.str();
          deliver_leaf(e.leaf.get(), gi);
        }
      }
      ctx.grad_out_ = Tensor();
      for (Tensor& t : ctx.grads_) t = Tensor();
      for (Tensor& t : ctx.targets_) t = Tensor();
    }
    order.clear();
  }

  std::vector<Tensor> results() {
    std::vector<Tensor> out;
    for (std::size_t k = 0; k < results_.size(); ++k) {
      if (!results_[k].grad.defined())
        results_[k].grad = Tensor::zeros(targets_[k].shape(), targets_[k].device());
      out.push_back(results_[k].grad);
    }
    return out;
  }

 private:
  // Whether the gradient along edge e is wanted: always in backward(); in grad() when it leads
  // to a chosen input, directly or through a relevant node.
  bool wanted(const Edge& e) const {
    if (!grad_mode_) return e.active();
    if (e.leaf) return leaf_target(e.leaf.get()) >= 0;
    if (e.fn) return e.fn->run.target >= 0 || e.fn->run.relevant;
    return false;
  }

  int leaf_target(const TensorImpl* leaf) const {
    for (std::size_t k = 0; k < targets_.size(); ++k)  // a handful of inputs: a scan beats a map
      if (!targets_[k].grad_fn() && targets_[k].impl().get() == leaf) return static_cast<int>(k);
    return -1;
  }

  void deliver_leaf(TensorImpl* leaf, const Tensor& g) {
    if (grad_mode_) {
      if (const int k = leaf_target(leaf); k >= 0) results_[k].add(g);
      return;
    }
    ++t_stats.leaf_grads_to_params;
    if (leaf->grad.defined())
      add_into(leaf->grad, g);
    else
      leaf->grad = g.clone();
  }

  std::vector<Tensor> targets_;  // by value: backward() passes a temporary
  bool grad_mode_;
  std::uint64_t epoch_ = 0;
  std::vector<Pending> results_;
  BackwardContext ctx_;
};

void backward(const Tensor& loss, const Tensor& grad_out) {
  const ProfileRange range("engine/backward");
  Engine engine({});
  engine.run({loss}, {grad_out});
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs) {
  const ProfileRange range("engine/grad");
  LUCID_CHECK(!inputs.empty()) << "grad() needs at least one input";
  Engine engine(inputs);
  engine.run(outputs, grad_outputs);
  return engine.results();
}

}  // namespace lucid
