// TD-MPC2 MLP training forward and backward on the CUDA device: the device twin of mlp_forward /
// mlp_backward (mlp.h), with the same caches, the same dropout contract and the same gradients,
// issued through the engine's launcher table (so this builds and links without CUDA).
//
// Per layer, forward: a hidden layer without dropout is the GEMM x W^T and ONE fused
// bias + LayerNorm (+Mish) launch (the cached h is then the GEMM output without the bias, which
// the backward kernel adds back); the first layer of a dropout MLP broadcasts its bias into h,
// accumulates the GEMM onto it and multiplies the mask in before the LayerNorm, as mlp.cc does; a
// SimNorm output adds the group softmax; a plain output layer is the bias broadcast and the GEMM.
// Backward: the softmax backward (SimNorm), the LayerNorm(+Mish) backward (dgamma, dbeta and, for
// the fused bias, dbias accumulated by the kernel), the mask, bias gradients of the other layers
// as a GEMV with a ones vector, dW += dh^T x, and dx = dh W.
//
// Memory contract: params and grads are the Mlp's blocks of DEVICE arenas; every pointer is a
// device pointer. forward writes (=) every cache buffer and the output; backward accumulates (+=)
// parameter gradients and writes (=) dx (from dx_first_col on). The mask (rows x dropout width,
// values in {0, 1/(1-p)}) must live until the backward. Sized once by reserve(); not re-entrant.
#pragma once

#include <vector>

#include "lucid/engine/tensor.h"
#include "lucid/models/tdmpc2/mlp.h"

namespace lucid::models::tdmpc2 {

class MlpCacheCuda {
 public:
  void reserve(const Mlp& mlp, int max_rows);  // grows only
  int capacity() const { return capacity_; }
  int rows() const { return rows_; }
  float* input() const { return input_.data(); }  // rows x in_dim, written by the caller
  const float* output() const { return layers_.back().y.data(); }

 private:
  friend void mlp_forward_train_cuda(const Mlp&, const float*, MlpCacheCuda&, int, const float*);
  friend void mlp_backward_cuda(const Mlp&, const float*, float*, MlpCacheCuda&, const float*, float*, int);
  struct Layer {
    Tensor h;           // LayerNorm input (norm layers): see the file comment for the bias
    Tensor mean, rstd;  // LayerNorm statistics (norm layers)
    Tensor y;           // layer output
  };
  Tensor input_;
  std::vector<Layer> layers_;
  Tensor grad_a_, grad_b_, grad_c_;  // backward scratch (and SimNorm's LayerNorm output), rows x max width
  Tensor ones_;                      // rows ones: bias gradients as one GEMV
  const float* mask_ = nullptr;
  int rows_ = 0, capacity_ = 0, width_ = 0;
};

// Forward of rows on cache.input(); mask: the first layer's dropout mask, or nullptr.
void mlp_forward_train_cuda(const Mlp& mlp, const float* params, MlpCacheCuda& cache, int rows,
                            const float* mask = nullptr);
// dy: rows x out_dim. grads: the Mlp's gradient block (+=), or nullptr (no parameter gradient).
// dx: rows x in_dim (=, columns from dx_first_col on), or nullptr.
void mlp_backward_cuda(const Mlp& mlp, const float* params, float* grads, MlpCacheCuda& cache,
                       const float* dy, float* dx, int dx_first_col = 0);

}  // namespace lucid::models::tdmpc2
