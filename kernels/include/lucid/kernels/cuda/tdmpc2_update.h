// TD-MPC2's update steps between its MLP launches, on the GPU (kernels/cuda/tdmpc2_update.cu): the
// pieces of Tdmpc2Agent's loss code (agents/tdmpc2) that are not GEMMs, LayerNorms or the shared
// softmax / soft cross-entropy kernels. Each mirrors its CPU loop; the scalar losses are summed
// by ONE thread in the CPU's order, so they equal the CPU's to the rounding of the row terms.
//
// consistency_rows_cuda: per row r of z, target (rows x L): d = z - target, dz += scale * d,
//   row_se[r] (double) = sum d^2 (one block per row; tree sum in double).
// consistency_total_cuda: *acc += weight * float(sum_r row_se[r] / (rows * L)), r ascending.
// rho_ce_loss_cuda: ce (H x B): *acc += (sum_t rho^t (sum_b ce[t][b]) / B) / H, float, in the
//   order of agents::rho_soft_ce.
// running_scale_cuda: RunningScale's step on n values: sorted copy (one block, dynamic shared
//   memory 2 n floats), spread = P95 - P5 with torch's linear interpolation, then
//   *scale += tau * (max(spread, 1) - *scale). n <= 4096.
// pi_actions_cuda: the policy loss's actions from pi's output (rows x 2A, bias included) and eps
//   (rows x A): log_std = lo + (hi - lo) (tanh(o[A + j]) + 1) / 2, action = tanh(o[j] + eps exp(log_std)).
// pi_loss_rows_cuda: per row r = t * B + b of (H + 1) * B: TD-MPC2's scaled-entropy loss term with
//   Q = q[r] / *scale, written as row_loss[r] (its share of the mean, rho^t / ((H + 1) B)) and
//   row_entropy[r]; g_q[r] = d loss / d (each of the two heads' values) = 0.5 d loss / d q; da
//   (rows x A, =) the entropy's gradient w.r.t. the action; stash (rows x 2A, =) eps * std and the
//   log_std gradient of the Gaussian term, which pi_out_grad_cuda completes.
// pi_out_grad_cuda: dout (rows x 2A, =) from da (after the Q heads' part was added) and the stash:
//   through tanh, the reparameterisation and the log_std squash, as the CPU's last loop.
// sum_rows_cuda: *out = sum_i x[i], i ascending, in float (one thread).
// select_blocks_cuda: dst[i * block, (i + 1) * block) = src[h_i * block, (h_i + 1) * block) for
//   i < count, h_i = (int) heads[i] read on the device: the update's randomly drawn Q heads copied
//   into fixed buffers, so a captured update graph replays with new heads.
// All pointers are device pointers; single-task (every action dim valid).
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

void consistency_rows_cuda(const float* z, const float* target, std::int64_t rows, int latent, float scale,
                           float* dz, double* row_se, cuda::StreamHandle stream);
void consistency_total_cuda(const double* row_se, std::int64_t rows, int latent, float weight, float* acc,
                            cuda::StreamHandle stream);
void rho_ce_loss_cuda(const float* ce, int horizon, int batch, float rho, float* acc,
                      cuda::StreamHandle stream);
void running_scale_cuda(const float* values, int n, float tau, float* scale, cuda::StreamHandle stream);
void pi_actions_cuda(const float* out, const float* eps, std::int64_t rows, int action_dim, float log_std_min,
                     float log_std_max, float* action, cuda::StreamHandle stream);
void pi_loss_rows_cuda(const float* out, const float* eps, const float* action, const float* q,
                       const float* scale, int horizon, int batch, int action_dim, float rho,
                       float entropy_coef, float log_std_min, float log_std_max, float* row_loss,
                       float* row_entropy, float* g_q, float* da, float* stash, cuda::StreamHandle stream);
void pi_out_grad_cuda(const float* out, const float* action, const float* da, const float* stash,
                      std::int64_t rows, int action_dim, float log_std_min, float log_std_max, float* dout,
                      cuda::StreamHandle stream);
void sum_rows_cuda(const float* x, std::int64_t n, float* out, cuda::StreamHandle stream);
void select_blocks_cuda(const float* src, std::int64_t block, const float* heads, int count, float* dst,
                        cuda::StreamHandle stream);

}  // namespace lucid::kernels
