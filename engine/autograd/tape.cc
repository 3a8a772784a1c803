// The tape: recording nodes, and running them in reverse for backward() and grad() (autograd.h).
//
// Both entry points share one runner. It collects the nodes reachable from the outputs, orders
// them by descending sequence number (a valid reverse topological order: a node is always
// recorded after the nodes of its inputs), and calls each node's backward once, after every
// gradient flowing into its output has been summed. grad() first marks which nodes lie on a path
// to a chosen input and asks each node only for the input gradients on such a path.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "lucid/engine/autograd.h"
#include "lucid/error.h"

namespace lucid {
namespace {

thread_local bool t_grad_enabled = true;
thread_local std::uint64_t t_seq = 0;
thread_local AutogradStats t_stats;

// dst += src (same numel), CPU. The engine's only arithmetic of its own.
void add_into(const Tensor& dst, const Tensor& src) {
  LUCID_CHECK(dst.is_cpu() && src.is_cpu()) << "CUDA backend not built";
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
class Engine {
 public:
  // targets empty: backward() mode (every active edge, leaves accumulate into .grad).
  Engine(const std::vector<Tensor>& targets) : grad_mode_(!targets.empty()) {
    for (std::size_t k = 0; k < targets.size(); ++k) {
      const Tensor& t = targets[k];
      LUCID_CHECK(t.defined()) << "grad(): input " << k << " is undefined";
      LUCID_CHECK(t.requires_grad()) << "grad(): input " << k << " does not require grad";
      if (t.grad_fn())
        target_nodes_[t.grad_fn().get()] = k;
      else
        target_leaves_[t.impl().get()] = k;
    }
    results_.resize(targets.size());
  }

  void run(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs) {
    std::unordered_map<Node*, Pending> pending;
    std::vector<Node*> roots;
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
        pending[y.grad_fn().get()].add(g);
        roots.push_back(y.grad_fn().get());
      } else {
        deliver_leaf(y.impl().get(), g);  // an output that is itself a leaf
      }
    }

    // Collect reachable nodes.
    std::vector<Node*> order;
    std::unordered_set<Node*> seen;
    std::vector<Node*> stack(roots.begin(), roots.end());
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      if (!seen.insert(n).second) continue;
      order.push_back(n);
      for (const Edge& e : n->edges)
        if (e.fn) stack.push_back(e.fn.get());
    }
    std::sort(order.begin(), order.end(), [](Node* a, Node* b) { return a->seq < b->seq; });

    // Which edges carry a wanted gradient. Ascending order: inputs are decided before consumers.
    std::unordered_map<Node*, std::vector<bool>> needs;
    std::unordered_set<Node*> relevant;
    for (Node* n : order) {
      std::vector<bool> need(n->edges.size(), false);
      bool any = false;
      for (std::size_t i = 0; i < n->edges.size(); ++i) {
        const Edge& e = n->edges[i];
        if (!grad_mode_) {
          need[i] = e.active();
        } else if (e.leaf) {
          need[i] = target_leaves_.count(e.leaf.get()) > 0;
        } else if (e.fn) {
          need[i] = target_nodes_.count(e.fn.get()) > 0 || relevant.count(e.fn.get()) > 0;
        }
        any = any || need[i];
      }
      if (any) relevant.insert(n);
      needs[n] = std::move(need);
    }

    BackwardContext ctx;
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      Node* n = *it;
      auto p = pending.find(n);
      if (p == pending.end()) continue;
      Tensor g = std::move(p->second.grad);
      pending.erase(p);
      if (auto t = target_nodes_.find(n); t != target_nodes_.end()) results_[t->second].grad = g;
      if (!relevant.count(n)) continue;

      const std::size_t m = n->edges.size();
      ctx.grad_out_ = g;
      ctx.needs_ = needs[n];
      ctx.grads_.assign(m, Tensor());
      ctx.done_in_place_.assign(m, false);
      ctx.targets_.assign(m, Tensor());
      if (!grad_mode_)
        for (std::size_t i = 0; i < m; ++i)
          if (n->edges[i].leaf && n->edges[i].leaf->grad.defined()) ctx.targets_[i] = n->edges[i].leaf->grad;
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
          pending[e.fn.get()].add(gi);
        } else if (e.leaf) {
          LUCID_CHECK_SHAPE(gi.shape() == e.leaf->shape)
              << n->name() << " backward: input " << i << " gradient " << gi.shape().str() << ", expected "
              << e.leaf->shape.str();
          deliver_leaf(e.leaf.get(), gi);
        }
      }
      ctx.grad_out_ = Tensor();
      ctx.grads_.clear();
      ctx.targets_.clear();
    }
  }

  std::vector<Tensor> results(const std::vector<Tensor>& targets) {
    for (std::size_t k = 0; k < results_.size(); ++k)
      if (!results_[k].grad.defined())
        results_[k].grad = Tensor::zeros(targets[k].shape(), targets[k].device());
    std::vector<Tensor> out;
    for (auto& r : results_) out.push_back(r.grad);
    return out;
  }

 private:
  void deliver_leaf(TensorImpl* leaf, const Tensor& g) {
    if (grad_mode_) {
      auto t = target_leaves_.find(leaf);
      if (t != target_leaves_.end()) results_[t->second].add(g);
      return;
    }
    ++t_stats.leaf_grads_to_params;
    if (leaf->grad.defined())
      add_into(leaf->grad, g);
    else
      leaf->grad = g.clone();
  }

  bool grad_mode_;
  std::unordered_map<Node*, std::size_t> target_nodes_;
  std::unordered_map<TensorImpl*, std::size_t> target_leaves_;
  std::vector<Pending> results_;
};

void backward(const Tensor& loss, const Tensor& grad_out) {
  Engine engine({});
  engine.run({loss}, {grad_out});
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs) {
  LUCID_CHECK(!inputs.empty()) << "grad() needs at least one input";
  Engine engine(inputs);
  engine.run(outputs, grad_outputs);
  return engine.results(inputs);
}

}  // namespace lucid
