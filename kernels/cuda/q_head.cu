// Fused Q-ensemble output epilogue: bias + 101-bin softmax decode of every head + min/avg of two
// chosen heads, forward and backward. Contract: lucid/kernels/cuda/q_head.h.
//
// Launch shape: one warp per row; the warp walks the members, and for each computes the head's
// log-sum-exp and expected bin centre with xor-butterfly reductions (every lane ends with both),
// so the whole epilogue is one launch with no shared memory. Backward recomputes the softmax
// from the logits rather than saving members x rows x bins probabilities: it is cheaper to redo
// two reductions than to write and re-read the distribution.
#include "hd/symlog.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/nvtx.h"
#include "lucid/kernels/cuda/q_head.h"
#include "lucid/kernels/cuda/runtime.h"
#include "warp_reduce.cuh"

namespace lucid::kernels {
namespace {

using cuda_detail::warp_max;
using cuda_detail::warp_sum;

struct Decoded {
  float lse;   // log-sum-exp of the biased logits
  float mean;  // expected bin centre (symlog space)
};

__device__ __forceinline__ float biased(const float* l, const float* b, int k) {
  return b ? l[k] + b[k] : l[k];
}

// Every lane gets the decode of one head's row.
__device__ __forceinline__ Decoded decode_row(const float* l, const float* b, int bins, float vmin,
                                              float step, int lane) {
  float mx = -INFINITY;
  for (int k = lane; k < bins; k += 32) mx = fmaxf(mx, biased(l, b, k));
  mx = warp_max(mx);
  float s = 0.f, sc = 0.f;
  for (int k = lane; k < bins; k += 32) {
    const float e = expf(biased(l, b, k) - mx);
    s += e;
    sc += e * (vmin + step * static_cast<float>(k));
  }
  s = warp_sum(s);
  sc = warp_sum(sc);
  return {mx + logf(s), sc / s};
}

__global__ void q_decode_forward_kernel(const float* logits, const float* bias, float* values, float* out,
                                        std::int64_t members, std::int64_t rows, int bins, float vmin,
                                        float step, int head_a, int head_b, QCombine combine) {
  const std::int64_t row = std::int64_t{blockIdx.x} * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = static_cast<int>(threadIdx.x % 32);
  float va = 0.f, vb = 0.f;
  for (std::int64_t e = 0; e < members; ++e) {
    // Heads that neither reach `out` nor are stored are skipped: planning decodes 2 of 5.
    if (!values && e != head_a && e != head_b) continue;
    const Decoded d = decode_row(logits + (e * rows + row) * bins, bias ? bias + e * bins : nullptr, bins,
                                 vmin, step, lane);
    const float v = hd::symexp(d.mean);
    if (e == head_a) va = v;
    if (e == head_b) vb = v;
    if (values && lane == 0) values[e * rows + row] = v;
  }
  if (lane == 0) out[row] = combine == QCombine::kMin ? fminf(va, vb) : 0.5f * (va + vb);
}

__global__ void q_decode_backward_kernel(const float* logits, const float* bias, const float* g_out,
                                         float* g_logits, std::int64_t members, std::int64_t rows, int bins,
                                         float vmin, float step, int head_a, int head_b, QCombine combine) {
  const std::int64_t row = std::int64_t{blockIdx.x} * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const float* ba = bias ? bias + head_a * bins : nullptr;
  const float* bb = bias ? bias + head_b * bins : nullptr;
  const Decoded da = decode_row(logits + (head_a * rows + row) * bins, ba, bins, vmin, step, lane);
  const Decoded db = decode_row(logits + (head_b * rows + row) * bins, bb, bins, vmin, step, lane);
  // d out / d value of each chosen head.
  float wa = 0.5f, wb = 0.5f;
  if (combine == QCombine::kMin) {
    const bool a_wins = hd::symexp(da.mean) <= hd::symexp(db.mean);
    wa = a_wins ? 1.f : 0.f;
    wb = 1.f - wa;
  }
  const float g = g_out[row];
  for (std::int64_t e = 0; e < members; ++e) {
    float* ge = g_logits + (e * rows + row) * bins;
    const float w = (e == head_a ? wa : 0.f) + (e == head_b ? wb : 0.f);
    if (w == 0.f) {
      for (int k = lane; k < bins; k += 32) ge[k] = 0.f;
      continue;
    }
    const Decoded& d = e == head_a ? da : db;
    const float* le = logits + (e * rows + row) * bins;
    const float* be = bias ? bias + e * bins : nullptr;
    // value = symexp(m), m = sum p_k c_k: d value / d logit_k = symexp'(m) p_k (c_k - m).
    const float gm = g * w * hd::symexp_grad(d.mean);
    for (int k = lane; k < bins; k += 32) {
      const float p = expf(biased(le, be, k) - d.lse);
      ge[k] = gm * p * (vmin + step * static_cast<float>(k) - d.mean);
    }
  }
}

// One head's decode backward with a run-time weight: g_logits = scale * (*weight) * d value / d
// logits (weight null: 1). The gradient planners' reward (weight null, scale gamma^t) and each
// terminal Q head (weight = that head's share of the terminal mean, 0 for heads not drawn).
__global__ void q_head_decode_scaled_backward_kernel(const float* logits, const float* bias,
                                                     const float* weight, float scale, float* g_logits,
                                                     std::int64_t rows, int bins, float vmin, float step) {
  const std::int64_t row = std::int64_t{blockIdx.x} * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const float* l = logits + row * bins;
  const Decoded d = decode_row(l, bias, bins, vmin, step, lane);
  const float gm = scale * (weight ? *weight : 1.f) * hd::symexp_grad(d.mean);
  float* g = g_logits + row * bins;
  for (int k = lane; k < bins; k += 32) {
    const float p = expf(biased(l, bias, k) - d.lse);
    g[k] = gm * p * (vmin + step * static_cast<float>(k) - d.mean);
  }
}

void check_args(std::int64_t members, std::int64_t rows, int bins, int head_a, int head_b) {
  LUCID_CHECK_SHAPE(members >= 1 && rows >= 0 && bins >= 2)
      << "q_head_decode: members=" << members << " rows=" << rows << " bins=" << bins;
  LUCID_CHECK_SHAPE(head_a >= 0 && head_a < members && head_b >= 0 && head_b < members)
      << "q_head_decode: heads " << head_a << ", " << head_b << " out of " << members << " members";
}

}  // namespace

void q_head_decode_forward_cuda(const float* logits, const float* bias, float* values, float* out,
                                std::int64_t members, std::int64_t rows, int bins, float vmin, float vmax,
                                int head_a, int head_b, QCombine combine, cuda::StreamHandle stream) {
  check_args(members, rows, bins, head_a, head_b);
  if (rows == 0) return;
  LUCID_NVTX_RANGE("kernels/q_head_decode_forward");
  const int threads = cuda::block_threads(128);
  LUCID_LAUNCH(q_decode_forward_kernel, cuda::blocks_for(static_cast<std::size_t>(rows), threads / 32),
               threads, 0, stream, logits, bias, values, out, members, rows, bins, vmin,
               (vmax - vmin) / static_cast<float>(bins - 1), head_a, head_b, combine);
}

void q_head_decode_backward_cuda(const float* logits, const float* bias, const float* g_out, float* g_logits,
                                 std::int64_t members, std::int64_t rows, int bins, float vmin, float vmax,
                                 int head_a, int head_b, QCombine combine, cuda::StreamHandle stream) {
  check_args(members, rows, bins, head_a, head_b);
  if (rows == 0) return;
  LUCID_NVTX_RANGE("kernels/q_head_decode_backward");
  const int threads = cuda::block_threads(128);
  LUCID_LAUNCH(q_decode_backward_kernel, cuda::blocks_for(static_cast<std::size_t>(rows), threads / 32),
               threads, 0, stream, logits, bias, g_out, g_logits, members, rows, bins, vmin,
               (vmax - vmin) / static_cast<float>(bins - 1), head_a, head_b, combine);
}

void q_head_decode_scaled_backward_cuda(const float* logits, const float* bias, const float* weight,
                                        float scale, float* g_logits, std::int64_t rows, int bins, float vmin,
                                        float vmax, cuda::StreamHandle stream) {
  check_args(1, rows, bins, 0, 0);
  if (rows == 0) return;
  LUCID_NVTX_RANGE("kernels/q_head_decode_scaled_backward");
  const int threads = cuda::block_threads(128);
  LUCID_LAUNCH(q_head_decode_scaled_backward_kernel,
               cuda::blocks_for(static_cast<std::size_t>(rows), threads / 32), threads, 0, stream, logits,
               bias, weight, scale, g_logits, rows, bins, vmin, (vmax - vmin) / static_cast<float>(bins - 1));
}

}  // namespace lucid::kernels
