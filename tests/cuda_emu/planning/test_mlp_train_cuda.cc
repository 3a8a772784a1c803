// The device MLP training forward/backward (models/tdmpc2/mlp_train_cuda.cc) against the CPU's
// mlp_forward / mlp_backward (mlp.cc) under the emulator: outputs, every parameter gradient
// (accumulated onto non-zero gradients, as the update does) and the input gradient, for the
// encoder-like and dynamics-like MLPs (SimNorm output), a Q-like MLP with dropout on its first
// layer (plain output) and a detached backward (no parameter gradients, dx from a column on).
// Widths and rows that are not multiples of 32.
#include <gtest/gtest.h>

#include <vector>

#include "device_flow_test.h"
#include "lucid/engine/cuda_device.h"
#include "lucid/engine/rng.h"
#include "lucid/models/tdmpc2/mlp.h"
#include "lucid/models/tdmpc2/mlp_train_cuda.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using MlpTrainCudaTest = testing::DeviceFlowTest;

using models::tdmpc2::Mlp;
using models::tdmpc2::MlpCache;
using models::tdmpc2::MlpCacheCuda;
using models::tdmpc2::ParamLayout;
using testing::all_close;
using testing::random_vector;

Tensor device(const std::vector<float>& v) {
  return Tensor::from(v, Shape{static_cast<std::int64_t>(v.size())}).to(Device::kCuda);
}

struct Case {
  const char* name;
  int in, out;
  std::vector<int> hidden;
  bool simnorm, dropout, with_grads;
  int dx_first_col;
};

TEST_F(MlpTrainCudaTest, ForwardAndBackwardMatchTheCpu) {
  const std::vector<Case> cases = {
      {"encoder", 13, 40, {56}, true, false, true, 0},
      {"dynamics", 37, 40, {48, 48}, true, false, true, 0},
      {"q head, dropout", 37, 101, {48, 48}, false, true, true, 0},
      {"detached q, action columns", 37, 101, {48, 48}, false, true, false, 32},
  };
  constexpr int kRows = 45;
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    ParamLayout layout;
    const Mlp mlp(layout, "m", tc.in, tc.hidden, tc.out, tc.simnorm, tc.dropout);
    std::vector<float> params = random_vector(layout.size(), 1, -0.3f, 0.3f);
    // LayerNorm gains around 1, so the normalised activations keep their scale.
    for (const auto& e : layout.entries())
      if (e.kind == models::tdmpc2::ParamKind::kNormGain)
        for (std::size_t i = 0; i < e.numel; ++i) params[e.offset + i] += 1.f;
    const std::vector<float> grads0 = random_vector(layout.size(), 2, -0.1f, 0.1f);
    const std::vector<float> x = random_vector(static_cast<std::size_t>(kRows) * tc.in, 3);
    const std::vector<float> dy = random_vector(static_cast<std::size_t>(kRows) * tc.out, 4);
    std::vector<float> mask;
    if (tc.dropout) {
      Rng rng(5);
      mask.resize(static_cast<std::size_t>(kRows) * tc.hidden.front());
      rng.dropout_mask(mask.data(), mask.size(), 0.2f);
    }
    // CPU reference.
    MlpCache cpu;
    cpu.reserve(mlp, kRows);
    std::copy(x.begin(), x.end(), cpu.input());
    std::vector<float> grads = grads0, dx(x.size(), 0.f);
    const float* block = params.data() + mlp.begin();
    models::tdmpc2::mlp_forward(mlp, block, cpu, kRows, tc.dropout ? mask.data() : nullptr);
    const std::vector<float> y(cpu.output(), cpu.output() + static_cast<std::size_t>(kRows) * tc.out);
    models::tdmpc2::mlp_backward(mlp, block, tc.with_grads ? grads.data() + mlp.begin() : nullptr, cpu,
                                 dy.data(), dx.data(), tc.dx_first_col);
    // Device.
    const Tensor d_params = device(params), d_grads = device(grads0), d_x = device(x), d_dy = device(dy);
    const Tensor d_mask = tc.dropout ? device(mask) : Tensor();
    const Tensor d_dx = Tensor::zeros(Shape{static_cast<std::int64_t>(dx.size())}, Device::kCuda);
    MlpCacheCuda dev;
    dev.reserve(mlp, kRows);
    LUCID_CUDA_CHECK(cudaMemcpy(dev.input(), d_x.data(), sizeof(float) * x.size(), cudaMemcpyDeviceToDevice));
    models::tdmpc2::mlp_forward_train_cuda(mlp, d_params.data() + mlp.begin(), dev, kRows,
                                           tc.dropout ? d_mask.data() : nullptr);
    std::vector<float> y_dev(y.size());
    LUCID_CUDA_CHECK(
        cudaMemcpy(y_dev.data(), dev.output(), sizeof(float) * y.size(), cudaMemcpyDeviceToHost));
    models::tdmpc2::mlp_backward_cuda(mlp, d_params.data() + mlp.begin(),
                                      tc.with_grads ? d_grads.data() + mlp.begin() : nullptr, dev,
                                      d_dy.data(), d_dx.data(), tc.dx_first_col);
    EXPECT_TRUE(all_close(y_dev.data(), y.data(), y.size(), 1e-5, 1e-4)) << "output";
    EXPECT_TRUE(all_close(d_grads.to_vector().data(), grads.data(), grads.size(), 1e-5, 1e-4)) << "grads";
    const std::vector<float> dx_dev = d_dx.to_vector();
    EXPECT_TRUE(all_close(dx_dev.data(), dx.data(), dx.size(), 1e-5, 1e-4)) << "dx";
  }
}

}  // namespace
}  // namespace lucid
