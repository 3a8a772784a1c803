// The last layer of TD-MPC2's Q ensemble, fused (kernels/cuda/q_head.cu): after the stacked
// output GEMM, one kernel adds each member's bias, decodes every head's 101-bin distribution to a
// scalar and combines two chosen heads.
//
// Shapes: logits is members x rows x bins (GEMM output, bias not added); bias members x bins (may
// be null); values members x rows (may be null); out rows.
// Decode (TD-MPC2 two_hot_inv): value = symexp(sum_k softmax(logits + bias)_k * c_k), with bin
// centres c_k = vmin + k (vmax - vmin) / (bins - 1).
// Combine: out = min(value[head_a], value[head_b]) (TD targets) or their mean (planning, pi loss).
// Forward writes values and out with `=`. Backward writes g_logits (members x rows x bins, the
// gradient w.r.t. logits + bias) with `=` — zero for heads that do not reach out; min sends the
// gradient to the smaller head (head_a on ties). dbias is the column sum of g_logits
// (reduce_leading_sum_cuda per member).
// Scaled backward (one head, rows x bins): g_logits = scale * w * d value / d (logits + bias), w =
// *weight read when the kernel runs (null: 1), so a captured graph replays with new weights —
// the gradient planners' terminal heads, whose random pair changes every iteration.
// All pointers are device pointers.
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

enum class QCombine : int { kMin, kAvg };

void q_head_decode_forward_cuda(const float* logits, const float* bias, float* values, float* out,
                                std::int64_t members, std::int64_t rows, int bins, float vmin, float vmax,
                                int head_a, int head_b, QCombine combine, cuda::StreamHandle stream);
void q_head_decode_backward_cuda(const float* logits, const float* bias, const float* g_out, float* g_logits,
                                 std::int64_t members, std::int64_t rows, int bins, float vmin, float vmax,
                                 int head_a, int head_b, QCombine combine, cuda::StreamHandle stream);
void q_head_decode_scaled_backward_cuda(const float* logits, const float* bias, const float* weight,
                                        float scale, float* g_logits, std::int64_t rows, int bins, float vmin,
                                        float vmax, cuda::StreamHandle stream);

}  // namespace lucid::kernels
