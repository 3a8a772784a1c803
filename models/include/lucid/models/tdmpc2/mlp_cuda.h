// The device twin of mlp_forward (mlp.h): a TD-MPC2 Mlp's inference forward on CUDA buffers,
// issued through the engine's launcher table (lucid/engine/cuda_launchers.h), so this code
// builds and links without CUDA and runs on whichever backend the binary registered.
//
// Per layer: the GEMM x W^T (cuBLAS launcher, beta 0, no bias), then ONE fused launch for
// bias + LayerNorm + Mish (ensemble_layernorm_forward with one member) on hidden layers; a
// SimNorm output is bias + LayerNorm (the same launch without Mish) then the group softmax
// (softmax_forward over rows * out / simnorm_dim rows of simnorm_dim). A PLAIN output layer is
// the GEMM only: its bias is left to the caller's epilogue kernel, which has to run anyway (the
// two-hot decode of reward and Q, the policy squash), so the output layer costs no extra launch.
// Launches: hidden layer 2, SimNorm output 3, plain output 1 (+ the caller's epilogue).
//
// First-layer input [prefix | x]: the concatenation is never materialised; the first GEMM is
// split at the prefix width (W[:, :P] prefix + W[:, P:] x, two GEMM calls, the second with
// beta 1). A prefix shared by every row (one latent for all planning samples) is folded into the
// LayerNorm bias instead: u = b + W[:, :P] z (one GEMV into a bias-sized buffer), so the row
// GEMM is only as deep as x. No dropout: eval mode.
//
// Memory contract: params is the Mlp's block of a DEVICE copy of the arena; every pointer is a
// device pointer. Scratch is sized once by reserve() for the largest batch and reused; the
// forward writes (=) `out` (rows x out_dim) and only scratch besides. Not re-entrant per scratch.
// An outgrown scratch buffer is retired, never freed, while the scratch lives: a CUDA graph that
// recorded a forward keeps valid (if private) scratch addresses however the batch grows later.
#pragma once

#include <vector>

#include "lucid/engine/tensor.h"
#include "lucid/models/tdmpc2/mlp.h"

namespace lucid::models::tdmpc2 {

// First-layer input: prefix (rows x prefix_dim, or 1 x prefix_dim when prefix_shared) then x
// (rows x x_dim); prefix_dim 0 means x is the whole input.
struct MlpInputCuda {
  const float* prefix = nullptr;
  int prefix_dim = 0;
  bool prefix_shared = false;
  const float* x = nullptr;
  int x_dim = 0;
};

class MlpScratchCuda {
 public:
  // Grows only (rows and width), so one scratch serves every Mlp of a model; device tensors.
  void reserve(const Mlp& mlp, int max_rows);
  int capacity() const { return capacity_; }

 private:
  friend void mlp_forward_cuda(const Mlp&, const float*, const MlpInputCuda&, int, MlpScratchCuda&, float*);
  Tensor a_, b_;                 // ping-pong layer outputs (and SimNorm's LayerNorm output), rows x max width
  Tensor h_;                     // the current layer's GEMM output, rows x max width
  Tensor mean_, rstd_;           // LayerNorm statistics (written by the kernel, not read in inference)
  Tensor shared_bias_;           // b + W[:, :P] z for a shared prefix, max width
  std::vector<Tensor> retired_;  // outgrown buffers, never freed (see the file comment)
  int capacity_ = 0, width_ = 0;
};

// Writes out (rows x mlp.out_dim()) on the device; see the file comment for the output bias.
void mlp_forward_cuda(const Mlp& mlp, const float* params, const MlpInputCuda& in, int rows,
                      MlpScratchCuda& scratch, float* out);

}  // namespace lucid::models::tdmpc2
