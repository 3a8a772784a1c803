// Optimizer kernels (Adam over an arena in one launch, EMA, grad-norm clipping), Philox draws and
// dropout, and the fused GRU gates on the emulated GPU against their CPU references:
// adam_step_cpu / ema_lerp_cpu / lucid::clip_grad_norm, lucid::Rng, gru_*_cpu.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "emu_fixture.h"
#include "lucid/engine/optim.h"
#include "lucid/engine/rng.h"
#include "lucid/kernels/adam.h"
#include "lucid/kernels/cuda/gru.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/optim.h"
#include "lucid/kernels/cuda/random.h"
#include "lucid/kernels/ema.h"
#include "lucid/kernels/gru.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using testing::all_close;
using testing::DeviceBuffer;
using testing::random_vector;

class OptimCuda : public testing::EmuTest {};
class RandomCuda : public testing::EmuTest {};
class GruCuda : public testing::EmuTest {};

TEST_F(OptimCuda, AdamStepsMatchCpuOverSeveralSteps) {
  for (std::size_t n : {1u, 255u, 1000u, 5003u}) {
    auto p = random_vector(n, 1), m = std::vector<float>(n, 0.f), v = std::vector<float>(n, 0.f);
    DeviceBuffer<float> dp(p), dm(m), dv(v), dg(n);
    for (int t = 1; t <= 3; ++t) {
      const auto g = random_vector(n, 10 + static_cast<std::uint64_t>(t));
      const float bc1 = 1.f - std::pow(0.9f, static_cast<float>(t)),
                  bc2 = 1.f - std::pow(0.999f, static_cast<float>(t));
      kernels::adam_step_cpu(p.data(), g.data(), m.data(), v.data(), n, 3e-4f, 0.9f, 0.999f, 1e-8f, bc1, bc2);
      dg.upload(g);
      kernels::adam_step_cuda(dp.get(), dg.get(), dm.get(), dv.get(), n, 3e-4f, 0.9f, 0.999f, 1e-8f, bc1, bc2,
                              nullptr);
    }
    EXPECT_TRUE(all_close(dp.download().data(), p.data(), n, 1e-7, 1e-6)) << n;
    EXPECT_TRUE(all_close(dm.download().data(), m.data(), n, 1e-7, 1e-6)) << n;
    EXPECT_TRUE(all_close(dv.download().data(), v.data(), n, 1e-9, 1e-6)) << n;
  }
}

TEST_F(OptimCuda, ArenaStepUpdatesEveryGroupInOneLaunchAndLeavesGapsFrozen) {
  // Three groups with their own lr (TD-MPC2 scales the encoder's), a frozen gap between two.
  const std::size_t n = 3000;
  kernels::AdamGroups groups;
  groups.count = 3;
  const std::uint64_t off[] = {0, 1200, 2100}, size[] = {1000, 900, 900};
  const float lr[] = {0.3f * 3e-4f, 3e-4f, 1e-3f};
  for (int i = 0; i < 3; ++i) groups.offset[i] = off[i], groups.size[i] = size[i], groups.lr[i] = lr[i];
  auto p = random_vector(n, 2), m = random_vector(n, 3, -0.1f, 0.1f), v = random_vector(n, 4, 0.f, 0.01f);
  const auto g = random_vector(n, 5);
  DeviceBuffer<float> dp(p), dm(m), dv(v), dg(g);
  const float bc1 = 1.f - 0.9f * 0.9f, bc2 = 1.f - 0.999f * 0.999f;
  for (int i = 0; i < 3; ++i)
    kernels::adam_step_cpu(p.data() + off[i], g.data() + off[i], m.data() + off[i], v.data() + off[i],
                           size[i], lr[i], 0.9f, 0.999f, 1e-8f, bc1, bc2);
#if defined(LUCID_EMU)
  emu::reset_counters();
#endif
  kernels::adam_arena_step_cuda(dp.get(), dg.get(), dm.get(), dv.get(), groups, 0.9f, 0.999f, 1e-8f, bc1, bc2,
                                nullptr);
#if defined(LUCID_EMU)
  EXPECT_EQ(emu::total_counters().kernel_launches, 1u);
#endif
  EXPECT_TRUE(all_close(dp.download().data(), p.data(), n, 1e-7, 1e-6));
  EXPECT_TRUE(all_close(dm.download().data(), m.data(), n, 1e-7, 1e-6));
  EXPECT_TRUE(all_close(dv.download().data(), v.data(), n, 1e-9, 1e-6));
}

TEST_F(OptimCuda, CapturedUpdateStepReplaysAsSuccessiveAdamSteps) {
  // clip -> Adam (device-side step count) -> EMA, captured once and replayed for 3 steps with new
  // gradients each time; the CPU takes the same 3 steps with host-side bias corrections.
  const std::size_t n = 3000;
  kernels::AdamGroups groups;
  groups.count = 2;
  groups.offset[0] = 0, groups.size[0] = 1000, groups.lr[0] = 0.3f * 1e-3f;
  groups.offset[1] = 1000, groups.size[1] = 2000, groups.lr[1] = 1e-3f;
  auto p = random_vector(n, 30), target = p;
  std::vector<float> m(n, 0.f), v(n, 0.f);
  DeviceBuffer<float> dp(p), dm(m), dv(v), dt(target), dg(n), norm(1);
  DeviceBuffer<double> sumsq(1);
  DeviceBuffer<std::int64_t> step(std::vector<std::int64_t>{0});
  cudaStream_t s;
  LUCID_CUDA_CHECK(cudaStreamCreate(&s));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  LUCID_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  kernels::step_increment_cuda(step.get(), nullptr, s);
  kernels::sumsq_cuda(dg.get(), n, sumsq.get(), s);
  kernels::clip_by_norm_cuda(dg.get(), n, sumsq.get(), 1.f, norm.get(), s);
  // adam_arena_device_kernel: reads the step count on the device, so the captured graph replays.
  kernels::adam_arena_step_device_cuda(dp.get(), dg.get(), dm.get(), dv.get(), groups, 0.9f, 0.999f, 1e-8f,
                                       step.get(), nullptr, s);
  kernels::ema_lerp_cuda(dt.get(), dp.get(), n, 0.01f, s);
  LUCID_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
  LUCID_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (int t = 1; t <= 3; ++t) {
    auto g = random_vector(n, 40 + static_cast<std::uint64_t>(t), -3.f, 3.f);
    dg.upload(g);
    LUCID_CUDA_CHECK(cudaGraphLaunch(exec, s));
    clip_grad_norm(g, 1.f);
    const float bc1 = static_cast<float>(1.0 - std::pow(0.9, t)),
                bc2 = static_cast<float>(1.0 - std::pow(0.999, t));
    for (int i = 0; i < 2; ++i) {
      const std::size_t o = groups.offset[i];
      kernels::adam_step_cpu(p.data() + o, g.data() + o, m.data() + o, v.data() + o, groups.size[i],
                             groups.lr[i], 0.9f, 0.999f, 1e-8f, bc1, bc2);
    }
    kernels::ema_lerp_cpu(target.data(), p.data(), n, 0.01f);
  }
  LUCID_CUDA_CHECK(cudaStreamSynchronize(s));
  EXPECT_EQ(step.download()[0], 3);
  EXPECT_TRUE(all_close(dp.download().data(), p.data(), n, 1e-6, 1e-5));
  EXPECT_TRUE(all_close(dm.download().data(), m.data(), n, 1e-7, 1e-5));
  EXPECT_TRUE(all_close(dv.download().data(), v.data(), n, 1e-9, 1e-5));
  EXPECT_TRUE(all_close(dt.download().data(), target.data(), n, 1e-6, 1e-5));
#if defined(LUCID_EMU)
  EXPECT_EQ(emu::counters(s).graph_launches, 3u);
  EXPECT_EQ(emu::counters(s).kernel_launches, 0u) << "every step ran from the graph";
#endif
  LUCID_CUDA_CHECK(cudaGraphExecDestroy(exec));
  LUCID_CUDA_CHECK(cudaGraphDestroy(graph));
  LUCID_CUDA_CHECK(cudaStreamDestroy(s));
}

TEST_F(OptimCuda, ANonFiniteGateSkipsTheDeviceAdamStepAndItsCount) {
  const std::size_t n = 100;
  kernels::AdamGroups groups;
  groups.count = 1, groups.offset[0] = 0, groups.size[0] = n, groups.lr[0] = 1e-2f;
  const auto p = random_vector(n, 60), g = random_vector(n, 61);
  DeviceBuffer<float> dp(p), dg(g), dm(std::vector<float>(n, 0.f)), dv(std::vector<float>(n, 0.f));
  DeviceBuffer<std::int64_t> step(std::vector<std::int64_t>{0});
  DeviceBuffer<float> nan_gate(std::vector<float>{NAN}), ok_gate(std::vector<float>{3.f});
  kernels::step_increment_cuda(step.get(), nan_gate.get(), nullptr);
  kernels::adam_arena_step_device_cuda(dp.get(), dg.get(), dm.get(), dv.get(), groups, 0.9f, 0.999f, 1e-8f,
                                       step.get(), nan_gate.get(), nullptr);
  EXPECT_EQ(step.download()[0], 0);
  EXPECT_EQ(dp.download(), p) << "a NaN norm must leave the parameters alone";
  kernels::step_increment_cuda(step.get(), ok_gate.get(), nullptr);
  kernels::adam_arena_step_device_cuda(dp.get(), dg.get(), dm.get(), dv.get(), groups, 0.9f, 0.999f, 1e-8f,
                                       step.get(), ok_gate.get(), nullptr);
  EXPECT_EQ(step.download()[0], 1);
  EXPECT_NE(dp.download(), p);
}

TEST_F(OptimCuda, EmaAndClipMatchCpu) {
  const std::size_t n = 4097;
  auto target = random_vector(n, 6);
  const auto source = random_vector(n, 7);
  DeviceBuffer<float> dt(target), ds(source);
  kernels::ema_lerp_cpu(target.data(), source.data(), n, 0.01f);
  kernels::ema_lerp_cuda(dt.get(), ds.get(), n, 0.01f, nullptr);
  EXPECT_TRUE(all_close(dt.download().data(), target.data(), n, 1e-7, 1e-6));

  for (float max_norm : {0.5f, 1e6f}) {  // clipped, and left alone
    auto grads = random_vector(n, 8, -2.f, 2.f);
    DeviceBuffer<float> dg(grads), norm(1);
    DeviceBuffer<double> sumsq(1);
    const float ref_norm = clip_grad_norm(grads, max_norm);
    kernels::sumsq_cuda(dg.get(), n, sumsq.get(), nullptr);
    kernels::clip_by_norm_cuda(dg.get(), n, sumsq.get(), max_norm, norm.get(), nullptr);
    EXPECT_NEAR(sumsq.download()[0], kernels::sumsq_cpu(random_vector(n, 8, -2.f, 2.f).data(), n), 1e-6);
    EXPECT_NEAR(norm.download()[0], ref_norm, 1e-4f * ref_norm);
    EXPECT_TRUE(all_close(dg.download().data(), grads.data(), n, 1e-7, 1e-5)) << max_norm;
  }
  // A non-finite norm leaves the gradients untouched (the caller skips the step).
  std::vector<float> bad(10, 1.f);
  bad[3] = NAN;
  DeviceBuffer<float> db(bad);
  DeviceBuffer<double> s(1);
  kernels::sumsq_cuda(db.get(), bad.size(), s.get(), nullptr);
  kernels::clip_by_norm_cuda(db.get(), bad.size(), s.get(), 0.1f, nullptr, nullptr);
  EXPECT_EQ(db.download()[0], 1.f);
}

TEST_F(RandomCuda, PhiloxDrawsEqualRngDrawsFromAnyOffset) {
  for (std::size_t n : {1u, 3u, 4u, 5u, 1027u})
    for (std::uint64_t offset : {0ull, 7ull, (1ull << 32) + 5}) {
      Rng rng(0xC0FFEEull, 3);
      rng.set_offset(offset);
      std::vector<float> u(n), z(n);
      rng.uniform(u.data(), n);
      rng.normal(z.data(), n);
      DeviceBuffer<float> du(n), dz(n);
      kernels::philox_uniform_cuda(du.get(), n, 0xC0FFEEull, 3, offset, nullptr);
      kernels::philox_normal_cuda(dz.get(), n, 0xC0FFEEull, 3, offset + kernels::philox_blocks(n), nullptr);
      EXPECT_EQ(du.download(), u) << "uniform draws are bit-identical; n=" << n << " offset=" << offset;
      EXPECT_TRUE(all_close(dz.download().data(), z.data(), n, 1e-6, 1e-6)) << n;
      EXPECT_EQ(rng.offset(), offset + 2 * kernels::philox_blocks(n));
    }
}

TEST_F(RandomCuda, DropoutKeepsWhereRngSaysAndBackwardRegeneratesTheMask) {
  const std::size_t n = 2050;
  const float p = 0.25f;
  const auto x = random_vector(n, 9), gy = random_vector(n, 10);
  Rng rng(42, 1);
  rng.set_offset(100);
  std::vector<float> u(n);
  rng.uniform(u.data(), n);
  std::vector<float> y_ref(n), gx_ref(n);
  std::size_t kept = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const bool keep = u[i] >= p;
    kept += keep;
    y_ref[i] = keep ? x[i] / (1.f - p) : 0.f;
    gx_ref[i] = keep ? gy[i] / (1.f - p) : 0.f;
  }
  EXPECT_NEAR(static_cast<double>(kept) / n, 1.0 - p, 0.05);
  DeviceBuffer<float> dx(x), dgy(gy), y(n), gx(n), gx2(n);
  DeviceBuffer<std::uint8_t> mask(n);
  kernels::dropout_forward_cuda(dx.get(), y.get(), mask.get(), n, p, 42, 1, 100, nullptr);
  kernels::dropout_backward_cuda(dgy.get(), mask.get(), gx.get(), n, p, 42, 1, 100, nullptr);
  kernels::dropout_backward_cuda(dgy.get(), nullptr, gx2.get(), n, p, 42, 1, 100, nullptr);
  EXPECT_TRUE(all_close(y.download().data(), y_ref.data(), n, 0, 1e-6));
  EXPECT_TRUE(all_close(gx.download().data(), gx_ref.data(), n, 0, 1e-6));
  EXPECT_EQ(gx2.download(), gx.download()) << "mask-free backward regenerates the same draws";
  EXPECT_THROW(kernels::dropout_forward_cuda(dx.get(), y.get(), nullptr, n, 1.f, 1, 0, 0, nullptr), Error);
}

TEST_F(GruCuda, BothFormsMatchCpu) {
  std::uint64_t seed = 20;
  for (int threads : {32, 256})
    for (std::int64_t batch : {1, 5})
      for (std::int64_t hidden : {1, 30, 200}) {
        cuda::ScopedBlockThreads launch(threads);
        SCOPED_TRACE(::testing::Message()
                     << "batch=" << batch << " hidden=" << hidden << " threads=" << threads);
        const auto n3 = static_cast<std::size_t>(batch * 3 * hidden),
                   n = static_cast<std::size_t>(batch * hidden);
        const auto gi = random_vector(n3, seed++, -2.f, 2.f), gh = random_vector(n3, seed++, -2.f, 2.f);
        const auto h = random_vector(n, seed++), g = random_vector(n, seed++);
        std::vector<float> hn(n), ggi(n3), ggh(n3), gh_ref(n), ln(n), gp(n3), glh(n);
        kernels::gru_torch_forward_cpu(gi.data(), gh.data(), h.data(), hn.data(), batch, hidden);
        kernels::gru_torch_backward_cpu(gi.data(), gh.data(), h.data(), g.data(), ggi.data(), ggh.data(),
                                        gh_ref.data(), batch, hidden);
        kernels::gru_ln_forward_cpu(gi.data(), h.data(), ln.data(), batch, hidden);
        kernels::gru_ln_backward_cpu(gi.data(), h.data(), g.data(), gp.data(), glh.data(), batch, hidden);

        DeviceBuffer<float> dgi(gi), dgh(gh), dh(h), dg(g), out(n), o_gi(n3), o_gh(n3), o_h(n), o_ln(n),
            o_gp(n3), o_lh(n);
        kernels::gru_torch_forward_cuda(dgi.get(), dgh.get(), dh.get(), out.get(), batch, hidden, nullptr);
        kernels::gru_torch_backward_cuda(dgi.get(), dgh.get(), dh.get(), dg.get(), o_gi.get(), o_gh.get(),
                                         o_h.get(), batch, hidden, nullptr);
        kernels::gru_ln_forward_cuda(dgi.get(), dh.get(), o_ln.get(), batch, hidden, nullptr);
        kernels::gru_ln_backward_cuda(dgi.get(), dh.get(), dg.get(), o_gp.get(), o_lh.get(), batch, hidden,
                                      nullptr);
        EXPECT_TRUE(all_close(out.download().data(), hn.data(), n, 1e-6, 1e-5));
        EXPECT_TRUE(all_close(o_gi.download().data(), ggi.data(), n3, 1e-6, 1e-5));
        EXPECT_TRUE(all_close(o_gh.download().data(), ggh.data(), n3, 1e-6, 1e-5));
        EXPECT_TRUE(all_close(o_h.download().data(), gh_ref.data(), n, 1e-6, 1e-5));
        EXPECT_TRUE(all_close(o_ln.download().data(), ln.data(), n, 1e-6, 1e-5));
        EXPECT_TRUE(all_close(o_gp.download().data(), gp.data(), n3, 1e-6, 1e-5));
        EXPECT_TRUE(all_close(o_lh.download().data(), glh.data(), n, 1e-6, 1e-5));
      }
}

}  // namespace
}  // namespace lucid
