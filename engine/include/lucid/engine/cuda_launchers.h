// The engine's CUDA dispatch table: one pointer per kernels/cuda launcher the engine's ops call.
//
// Why a table: engine ops (engine/ops/*.cc) must run on the device when their tensors are on
// Device::kCuda, yet lucid_engine itself has to build and link with no CUDA at all (CPU-only
// binaries, the CLI on a machine without the toolkit). So ops never name a `_cuda` symbol; they
// call through this table, and use_cuda_device() (engine/cuda/cuda_backend.cc, linked only by
// binaries that chose a CUDA backend: lucid_engine_cuda or lucid_engine_cuda_emu) fills it with
// that backend's launchers and its compute stream. The member types are the launchers' own
// (decltype of the declarations in lucid/kernels/cuda/*.h), so a signature change breaks the
// build here rather than at run time. Until a backend registers, cuda_launchers() throws.
//
// The list is an X-macro so that the member declarations and the registration cannot drift.
#pragma once

#include <functional>
#include <memory>

#include "lucid/kernels/cuda/copy.h"
#include "lucid/kernels/cuda/dream_mpc.h"
#include "lucid/kernels/cuda/elementwise.h"
#include "lucid/kernels/cuda/gemm.h"
#include "lucid/kernels/cuda/graph.h"
#include "lucid/kernels/cuda/gru.h"
#include "lucid/kernels/cuda/layernorm.h"
#include "lucid/kernels/cuda/loss.h"
#include "lucid/kernels/cuda/mppi.h"
#include "lucid/kernels/cuda/optim.h"
#include "lucid/kernels/cuda/policy.h"
#include "lucid/kernels/cuda/q_head.h"
#include "lucid/kernels/cuda/random.h"
#include "lucid/kernels/cuda/reduce.h"
#include "lucid/kernels/cuda/rollout.h"
#include "lucid/kernels/cuda/softmax.h"
#include "lucid/kernels/cuda/stream.h"
#include "lucid/kernels/cuda/tdmpc2_update.h"

// X(name) for every lucid::kernels::<name>_cuda the engine dispatches to, by launcher file. The
// last three lines are for layers above the engine (TD-MPC2 device inference, MPPI and its graph
// capture), which reach the device through this same table so that they, too, build without CUDA.
// clang-format off
#define LUCID_CUDA_LAUNCHER_LIST(X)                                                                \
  X(unary_forward) X(unary_backward) X(binary_forward) X(binary_backward)      /* elementwise */   \
  X(fill) X(accumulate) X(expand)                                                                  \
  X(gemm) X(gemm_strided_batched)                                              /* gemm */          \
  X(copy_rows) X(gather_rows) X(scatter_add_rows) X(scatter_last)              /* copy */          \
  X(reduce_last) X(reduce_leading_sum)                                         /* reduce */        \
  X(ensemble_layernorm_forward) X(ensemble_layernorm_backward)                 /* layernorm */     \
  X(softmax_forward) X(softmax_backward) X(two_hot) X(soft_ce_forward)         /* softmax */       \
  X(soft_ce_backward)                                                                              \
  X(mse_forward) X(mse_backward)                                               /* loss */          \
  X(dropout_forward) X(dropout_backward)                                       /* random */        \
  X(gru_torch_forward) X(gru_torch_backward) X(gru_ln_forward) X(gru_ln_backward) /* gru */        \
  X(adam_arena_step) X(adam_arena_step_device) X(step_increment) X(ema_lerp)  /* optim */         \
  X(sumsq) X(scale) X(clip_by_norm)                                                                \
  X(q_head_decode_forward) X(policy_squash) X(philox_normal)   /* TD-MPC2 inference, MPPI */      \
  X(policy_squash_backward) X(rollout_accumulate) X(ensemble_uncertainty) /* gradient planners */ \
  X(accumulate_rows) X(head_weighted_accumulate) X(q_head_decode_scaled_backward)                  \
  X(philox_normal_at) X(dream_warm_start) X(dream_clip_ascend) X(dream_select)                     \
  X(mppi_sample_actions) X(mppi_accumulate) X(mppi_elite_refit)                                    \
  X(consistency_rows) X(consistency_total) X(rho_ce_loss) X(running_scale) /* TD-MPC2 update */    \
  X(pi_actions) X(pi_loss_rows) X(pi_out_grad) X(sum_rows) X(select_blocks)                       \
  X(q_head_decode_backward)                                                                        \
  X(graph_capture_begin) X(graph_capture_end) X(graph_launch) X(graph_destroy) /* graph */
// clang-format on

namespace lucid {

struct CudaLaunchers {
#define LUCID_CUDA_LAUNCHER_MEMBER(name) decltype(&kernels::name##_cuda) name = nullptr;
  LUCID_CUDA_LAUNCHER_LIST(LUCID_CUDA_LAUNCHER_MEMBER)
#undef LUCID_CUDA_LAUNCHER_MEMBER
  cuda::StreamHandle stream = nullptr;  // lucid's one compute stream (cuda_compute_stream())
};

// The registered table; throws lucid::Error ("no CUDA backend: call use_cuda_device()") when none is.
const CudaLaunchers& cuda_launchers();
// Called by use_cuda_device(); the table must outlive every CUDA tensor (a static).
void set_cuda_launchers(const CudaLaunchers* table);

// One piece of device work replayed as a CUDA graph on lucid's compute stream (MPPI's iteration,
// Dream-MPC's plan call, TD-MPC2's update). run() calls body() directly the first time — that call
// may size buffers or upload weights, which a capture may not — captures it on the second and
// from then on launches the graph; with `enabled` false it always calls body() directly. The
// graph holds body's launch arguments and addresses as they were at capture: the caller keeps
// them fixed (values that change go through device memory) and release()s the graph otherwise.
// A body that throws during capture ends the capture and leaves no graph.
class CudaGraphSlot {
 public:
  void run(bool enabled, const std::function<void()>& body);
  void release() { graph_.reset(); }  // captured again on the next run
  bool captured() const { return graph_ != nullptr; }

 private:
  std::shared_ptr<void> graph_;
  bool warmed_ = false;
};

}  // namespace lucid
