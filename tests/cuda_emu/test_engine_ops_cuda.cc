// The engine on the CUDA device beyond the shared op suite (tests/engine, instantiated per
// device): what only a second device can show — mixed-device calls fail clearly, the launch
// counts the dispatch promises (an ensemble layer is 2 launches whatever E is), the optimizer on
// a device arena equals the CPU one, nn modules follow their arena to the device — and the new
// elementwise / copy launchers against the CPU kernels over block sizes (ScopedBlockThreads).
// Kernels covered through their launchers: elementwise.cu (unary, binary, expand, fill,
// accumulate), copy.cu, gemm.cu, loss.cu, optim.cu (adam_arena_step, sumsq + clip_by_norm, ema).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "emu_fixture.h"
#include "gradcheck.h"
#include "lucid/engine/cuda_device.h"
#include "lucid/engine/nn.h"
#include "lucid/engine/ops.h"
#include "lucid/engine/optim.h"
#include "lucid/engine/rng.h"
#include "lucid/kernels/cuda/copy.h"
#include "lucid/kernels/cuda/elementwise.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/elementwise.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using testing::all_close;
using testing::uniform_tensor;

class EngineOpsCuda : public testing::EmuTest {
 protected:
  void SetUp() override {
    testing::EmuTest::SetUp();
    if (IsSkipped()) return;
    use_cuda_device();
  }
  static Tensor host(const Tensor& t) { return t.to(Device::kCpu); }
  static Tensor dev(const Tensor& t) { return t.to(Device::kCuda); }
};

TEST_F(EngineOpsCuda, MixedDeviceInputsNameBothDevices) {
  const Tensor a = uniform_tensor({3, 4}, -1.f, 1.f, 1), b = dev(uniform_tensor({3, 4}, -1.f, 1.f, 2));
  for (auto f : {+[](const Tensor&x, const Tensor&y) { return add(x, y); },
                 +[](const Tensor&x, const Tensor&y) { return linear(x, y); },
                 +[](const Tensor&x, const Tensor&y) {
                   return concat({x, y}, 0);
                 }}) {
    try {
      f(a, b);
      ADD_FAILURE() << "mixed devices were accepted";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("cpu"), std::string::npos) << what;
      EXPECT_NE(what.find("cuda"), std::string::npos) << what;
    }
  }
}

TEST_F(EngineOpsCuda, OutputsAndGradientsStayOnTheDevice) {
  Tensor x = dev(uniform_tensor({5, 7}, -1.f, 1.f, 3)).set_requires_grad();
  Tensor w = dev(uniform_tensor({4, 7}, -1.f, 1.f, 4)).set_requires_grad();
  const Tensor y =
      sum(layernorm_mish(linear(x, w), Tensor::ones({4}, Device::kCuda), Tensor::zeros({4}, Device::kCuda)));
  EXPECT_EQ(y.device(), Device::kCuda);
  backward(y);
  ASSERT_TRUE(x.grad().defined() && w.grad().defined());
  EXPECT_EQ(x.grad().device(), Device::kCuda);
  EXPECT_EQ(w.grad().device(), Device::kCuda);
}

// Dropout on the device draws lucid::Rng's very numbers: the same mask as on the CPU for the same
// (seed, stream, offset), and the Rng advances by the same number of blocks on both devices.
TEST_F(EngineOpsCuda, DropoutMaskEqualsTheCpuMask) {
  const Tensor x = uniform_tensor({7, 45}, 0.5f, 1.5f, 43);  // 315 values: not a multiple of 4
  Rng cpu_rng(9, 2), gpu_rng(9, 2);
  cpu_rng.set_offset(5), gpu_rng.set_offset(5);
  for (int draw = 0; draw < 2; ++draw) {
    const Tensor y_cpu = dropout(x, 0.3f, cpu_rng), y_gpu = host(dropout(dev(x), 0.3f, gpu_rng));
    int dropped = 0;
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      ASSERT_EQ(y_gpu.data()[i] == 0.f, y_cpu.data()[i] == 0.f) << "draw " << draw << " element " << i;
      EXPECT_NEAR(y_gpu.data()[i], y_cpu.data()[i], 1e-6f * std::abs(y_cpu.data()[i]));
      dropped += y_cpu.data()[i] == 0.f;
    }
    EXPECT_GT(dropped, 0);
    EXPECT_EQ(gpu_rng.offset(), cpu_rng.offset());
  }
}

#if defined(LUCID_EMU)
// The latency proxy: launches per op. A biased linear is the bias broadcast plus one GEMM; an
// ensemble layer is the same two launches for any E (one strided-batched GEMM); LN+Mish is one.
TEST_F(EngineOpsCuda, LaunchCountsPerLayer) {
  NoGrad ng;
  const Tensor x = dev(uniform_tensor({9, 37}, -1.f, 1.f, 5));
  const Tensor w = dev(uniform_tensor({21, 37}, -1.f, 1.f, 6)), b = dev(uniform_tensor({21}, -1.f, 1.f, 7));
  const Tensor we = dev(uniform_tensor({5, 21, 37}, -1.f, 1.f, 8)),
               be = dev(uniform_tensor({5, 21}, -1.f, 1.f, 9));
  const Tensor g = Tensor::ones({5, 21}, Device::kCuda), beta = Tensor::zeros({5, 21}, Device::kCuda);
  auto launches = [](auto&& f) {
    emu::reset_counters();
    f();
    return emu::total_counters().kernel_launches;
  };
  EXPECT_EQ(launches([&] { linear(x, w, b); }), 2u);
  EXPECT_EQ(launches([&] { linear(x, w); }), 1u);
  EXPECT_EQ(launches([&] { ensemble_linear(x, we, be); }), 2u);
  const Tensor h = ensemble_linear(x, we, be);
  EXPECT_EQ(launches([&] { layernorm_mish(h, g, beta); }), 1u);
  EXPECT_EQ(launches([&] { bias_layernorm(ensemble_linear(x, we), be, g, beta, true); }), 2u);

  // nn blocks on the device: a NormedLinear(Mish) layer is its GEMM plus one LayerNorm launch
  // that adds the bias, so an Mlp with 2 hidden layers and a plain output is 2 + 2 + 2 launches.
  nn::ParamArena arena;
  nn::Mlp mlp(arena, "mlp", {.in = 37, .hidden = {40, 40}, .out = 11, .out_act = std::nullopt});
  nn::Ensemble ens(arena, "q", 5, {.in = 37, .hidden = {40, 40}, .out = 11, .out_act = std::nullopt});
  arena.allocate();
  arena.to(Device::kCuda);
  EXPECT_EQ(launches([&] { mlp.forward(x); }), 6u);
  EXPECT_EQ(launches([&] { ens.forward(x); }), 6u);  // the same for 5 members as for one
}
#endif

TEST_F(EngineOpsCuda, AdamClipAndEmaOnADeviceArenaEqualTheCpu) {
  const std::size_t n = 301;                                                 // not a multiple of 32
  const std::vector<ParamGroup> groups = {{0, 100, 0.3f}, {112, 189, 1.f}};  // 100..111 frozen
  Adam cpu_adam(n, groups), gpu_adam(n, groups);
  Tensor p_cpu = uniform_tensor({301}, -1.f, 1.f, 10), p_gpu = dev(p_cpu);
  for (int step = 0; step < 3; ++step) {
    Tensor g = uniform_tensor({301}, -30.f, 30.f, 20 + static_cast<unsigned>(step));
    Tensor g_gpu = dev(g);
    const float norm_cpu = clip_grad_norm(g, 20.f), norm_gpu = clip_grad_norm(g_gpu, 20.f);
    EXPECT_NEAR(norm_gpu, norm_cpu, 1e-4 * norm_cpu);
    EXPECT_TRUE(all_close(host(g_gpu).data(), g.data(), n, 1e-6, 1e-5)) << "clipped grads, step " << step;
    cpu_adam.step(p_cpu, g);
    gpu_adam.step(p_gpu, g_gpu);
  }
  EXPECT_TRUE(all_close(host(p_gpu).data(), p_cpu.data(), n, 1e-6, 1e-5));
  EXPECT_EQ(gpu_adam.step_count(), 3);
  // Host moments are pulled back for checkpoints.
  EXPECT_TRUE(all_close(gpu_adam.exp_avg().data(), cpu_adam.exp_avg().data(), n, 1e-6, 1e-5));
  EXPECT_TRUE(all_close(gpu_adam.exp_avg_sq().data(), cpu_adam.exp_avg_sq().data(), n, 1e-6, 1e-5));

  Tensor t_cpu = uniform_tensor({301}, -1.f, 1.f, 30), t_gpu = dev(t_cpu);
  ema_update(t_cpu, p_cpu, 0.01f);
  ema_update(t_gpu, p_gpu, 0.01f);
  EXPECT_TRUE(all_close(host(t_gpu).data(), t_cpu.data(), n, 1e-6, 1e-5));
}

TEST_F(EngineOpsCuda, ModulesFollowTheirArenaToTheDevice) {
  nn::ParamArena arena;
  nn::Mlp mlp(arena, "mlp", {.in = 13, .hidden = {40}, .out = 24, .out_act = nn::Activation::kSimNorm});
  nn::Ensemble ens(arena, "q", 3, {.in = 13, .hidden = {40}, .out = 11, .out_act = std::nullopt});
  arena.allocate();
  Rng rng(3);
  mlp.init(rng);
  ens.init(rng);
  const Tensor x = uniform_tensor({6, 13}, -1.f, 1.f, 40);
  const Tensor y_cpu = mlp.forward(x), q_cpu = ens.forward(x);
  arena.to(Device::kCuda);
  EXPECT_EQ(arena.params_tensor().device(), Device::kCuda);
  EXPECT_THROW(arena.params(), Error);  // host spans of a device arena are refused
  const Tensor y_gpu = mlp.forward(dev(x)), q_gpu = ens.forward(dev(x));
  EXPECT_TRUE(all_close(host(y_gpu).data(), y_cpu.data(), y_cpu.numel(), 1e-5, 1e-4));
  EXPECT_TRUE(all_close(host(q_gpu).data(), q_cpu.data(), q_cpu.numel(), 1e-5, 1e-4));

  // Parameter gradients land in the device arena's grad block and equal the CPU's (the device
  // path fuses each bias into its LayerNorm, the CPU path adds it in the GEMM).
  const Tensor w_y = uniform_tensor(y_cpu.shape(), -1.f, 1.f, 41),
               w_q = uniform_tensor(q_cpu.shape(), -1.f, 1.f, 42);
  arena.zero_grad();
  backward(add(sum(mul(y_gpu, dev(w_y))), sum(mul(q_gpu, dev(w_q)))));
  const Tensor grads_gpu = host(arena.grads_tensor());
  arena.to(Device::kCpu);
  arena.zero_grad();
  backward(add(sum(mul(mlp.forward(x), w_y)), sum(mul(ens.forward(x), w_q))));
  EXPECT_TRUE(all_close(grads_gpu.data(), arena.grads_tensor().data(), grads_gpu.numel(), 1e-5, 1e-4));
}

// The new launchers over block sizes: results may not depend on the launch shape.
TEST_F(EngineOpsCuda, ElementwiseAndCopyLaunchersMatchCpuForEveryBlockSize) {
  using kernels::Dims4;
  const Dims4 ad{{1, 3, 1, 37}}, bd{{2, 1, 5, 1}}, od{{2, 3, 5, 37}};
  const Tensor a = uniform_tensor({3, 1, 37}, -1.f, 1.f, 50),
               b = uniform_tensor({2, 1, 5, 1}, 0.5f, 1.5f, 51);
  const Tensor go = uniform_tensor({2, 3, 5, 37}, -1.f, 1.f, 52);
  Tensor ref = Tensor::empty({2, 3, 5, 37}), ga = Tensor::empty({3, 1, 37}), gb = Tensor::empty({2, 1, 5, 1});
  kernels::binary_forward_cpu(kernels::BinaryOp::kDiv, a.data(), ad, b.data(), bd, ref.data(), od);
  kernels::binary_backward_cpu(kernels::BinaryOp::kDiv, a.data(), ad, b.data(), bd, go.data(), od, ga.data(),
                               gb.data());
  Tensor mish_ref = Tensor::empty({3, 1, 37});
  kernels::unary_forward_cpu(kernels::UnaryOp::kMish, a.data(), mish_ref.data(), a.numel(), 0.f, 0.f);
  const Tensor da = dev(a), db = dev(b), dgo = dev(go);
  for (int threads : {32, 96, 256}) {
    cuda::ScopedBlockThreads scoped(threads);
    const cuda::StreamHandle s = cuda_compute_stream();
    Tensor out = Tensor::empty({2, 3, 5, 37}, Device::kCuda), dga = Tensor::empty({3, 1, 37}, Device::kCuda),
           dgb = Tensor::empty({2, 1, 5, 1}, Device::kCuda), m = Tensor::empty({3, 1, 37}, Device::kCuda);
    kernels::binary_forward_cuda(kernels::BinaryOp::kDiv, da.data(), ad, db.data(), bd, out.data(), od, s);
    kernels::binary_backward_cuda(kernels::BinaryOp::kDiv, da.data(), ad, db.data(), bd, dgo.data(), od,
                                  dga.data(), dgb.data(), s);
    kernels::unary_forward_cuda(kernels::UnaryOp::kMish, da.data(), m.data(), a.numel(), 0.f, 0.f, s);
    EXPECT_TRUE(all_close(host(out).data(), ref.data(), ref.numel(), 1e-6, 1e-6)) << threads;
    EXPECT_TRUE(all_close(host(dga).data(), ga.data(), ga.numel(), 1e-5, 1e-5)) << threads;
    EXPECT_TRUE(all_close(host(dgb).data(), gb.data(), gb.numel(), 1e-5, 1e-5)) << threads;
    EXPECT_TRUE(all_close(host(m).data(), mish_ref.data(), m.numel(), 1e-6, 1e-6)) << threads;

    // A 3 x 4 window at column 5 of a 7 x 37 matrix, copied into columns 2..5 of a 7 x 9 one.
    Tensor dst = Tensor::zeros({7, 9}, Device::kCuda);
    const Tensor src = uniform_tensor({7, 37}, -1.f, 1.f, 53), dsrc = dev(src);
    kernels::copy_rows_cuda(dsrc.data() + 5, 37, dst.data() + 2, 9, 7, 4, s);
    const Tensor got = host(dst);
    for (int r = 0; r < 7; ++r)
      for (int c = 0; c < 9; ++c)
        EXPECT_EQ(got.data()[r * 9 + c], c >= 2 && c < 6 ? src.data()[r * 37 + 5 + c - 2] : 0.f)
            << r << "," << c;
  }
}

}  // namespace
}  // namespace lucid
