// LayerNorm(+Mish) CUDA kernels under the emulator against the CPU reference (layernorm_*_cpu):
// widths below, at and above a warp and past the warp-per-row limit (block-per-row path), odd row
// counts, every block size class, E = 1..8 ensemble members with a fused bias, random fiber order.
// Kernels covered (through the layernorm_*_cuda launchers): layernorm_forward_kernel,
// layernorm_backward_rows_kernel, layernorm_backward_params_kernel.
#include <gtest/gtest.h>

#include <vector>

#include "emu_fixture.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/layernorm.h"
#include "lucid/kernels/layernorm.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using testing::all_close;
using testing::DeviceBuffer;
using testing::random_vector;

class LayerNormCuda : public testing::EmuTest {};

// CPU reference for the ensemble epilogue: add each member's bias, then the plain CPU LayerNorm
// per member; dbias is the column sum of gx.
struct EnsembleRef {
  std::vector<float> y, mean, rstd, gx, dbias, dgamma, dbeta;
};
EnsembleRef ensemble_reference(const std::vector<float>& x, const std::vector<float>* bias,
                               const std::vector<float>& gamma, const std::vector<float>& beta,
                               const std::vector<float>& gy, const std::vector<float>& param_grad_init,
                               std::int64_t members, std::int64_t rows, std::int64_t cols, bool mish) {
  EnsembleRef r;
  const auto n = static_cast<std::size_t>(members * rows * cols);
  std::vector<float> xb(x);
  for (std::int64_t e = 0; e < members; ++e)
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t c = 0; c < cols; ++c)
        if (bias)
          xb[static_cast<std::size_t>((e * rows + i) * cols + c)] +=
              (*bias)[static_cast<std::size_t>(e * cols + c)];
  r.y.resize(n), r.gx.resize(n);
  r.mean.resize(static_cast<std::size_t>(members * rows)), r.rstd.resize(r.mean.size());
  r.dgamma = param_grad_init, r.dbeta = param_grad_init, r.dbias = param_grad_init;
  for (std::int64_t e = 0; e < members; ++e) {
    const std::size_t xo = static_cast<std::size_t>(e * rows * cols), po = static_cast<std::size_t>(e * cols),
                      ro = static_cast<std::size_t>(e * rows);
    kernels::layernorm_forward_cpu(xb.data() + xo, gamma.data() + po, beta.data() + po, r.y.data() + xo,
                                   r.mean.data() + ro, r.rstd.data() + ro, rows, cols, 1e-5f, mish);
    kernels::layernorm_backward_cpu(xb.data() + xo, gamma.data() + po, beta.data() + po, r.mean.data() + ro,
                                    r.rstd.data() + ro, gy.data() + xo, r.gx.data() + xo,
                                    r.dgamma.data() + po, r.dbeta.data() + po, rows, cols, mish);
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t c = 0; c < cols; ++c)
        r.dbias[po + static_cast<std::size_t>(c)] += r.gx[xo + static_cast<std::size_t>(i * cols + c)];
  }
  return r;
}

void check_ensemble(std::int64_t members, std::int64_t rows, std::int64_t cols, bool mish, bool with_bias,
                    std::uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << "E=" << members << " rows=" << rows << " cols=" << cols
                                    << " mish=" << mish << " bias=" << with_bias);
  const auto n = static_cast<std::size_t>(members * rows * cols),
             p = static_cast<std::size_t>(members * cols);
  const auto x = random_vector(n, seed, -2.f, 2.f), gy = random_vector(n, seed + 1);
  const auto gamma = random_vector(p, seed + 2, 0.5f, 1.5f), beta = random_vector(p, seed + 3, -0.5f, 0.5f);
  const auto bias = random_vector(p, seed + 4), init = random_vector(p, seed + 5);
  const EnsembleRef ref =
      ensemble_reference(x, with_bias ? &bias : nullptr, gamma, beta, gy, init, members, rows, cols, mish);

  DeviceBuffer<float> dx(x), dgy(gy), dgamma(gamma), dbeta(beta), dbias(bias), y(n), gx(n);
  DeviceBuffer<float> mean(static_cast<std::size_t>(members * rows)), rstd(mean.size());
  DeviceBuffer<float> ggamma(init), gbeta(init), gbias(init);
  const float* b = with_bias ? dbias.get() : nullptr;
  kernels::ensemble_layernorm_forward_cuda(dx.get(), b, dgamma.get(), dbeta.get(), y.get(), mean.get(),
                                           rstd.get(), members, rows, cols, 1e-5f, mish, nullptr);
  kernels::ensemble_layernorm_backward_cuda(dx.get(), b, dgamma.get(), dbeta.get(), mean.get(), rstd.get(),
                                            dgy.get(), gx.get(), with_bias ? gbias.get() : nullptr,
                                            ggamma.get(), gbeta.get(), members, rows, cols, mish, nullptr);
  EXPECT_TRUE(all_close(y.download().data(), ref.y.data(), n, 1e-5, 1e-4));
  EXPECT_TRUE(all_close(mean.download().data(), ref.mean.data(), ref.mean.size(), 1e-6, 1e-5));
  EXPECT_TRUE(all_close(rstd.download().data(), ref.rstd.data(), ref.rstd.size(), 1e-6, 1e-4));
  EXPECT_TRUE(all_close(gx.download().data(), ref.gx.data(), n, 2e-5, 2e-4));
  EXPECT_TRUE(all_close(ggamma.download().data(), ref.dgamma.data(), p, 1e-4, 1e-4));
  EXPECT_TRUE(all_close(gbeta.download().data(), ref.dbeta.data(), p, 1e-4, 1e-4));
  if (with_bias) {
    EXPECT_TRUE(all_close(gbias.download().data(), ref.dbias.data(), p, 1e-4, 1e-4));
  }
}

TEST_F(LayerNormCuda, PlainMatchesCpuAcrossShapesAndBlockSizes) {
  std::uint64_t seed = 100;
  for (int threads : {32, 96, 256})
    for (std::int64_t cols : {1, 5, 31, 32, 33, 100, 512})
      for (std::int64_t rows : {1, 7, 37}) {
        cuda::ScopedBlockThreads launch(threads);
        SCOPED_TRACE(::testing::Message() << "threads=" << threads);
        check_ensemble(1, rows, cols, /*mish=*/(cols % 2) == 1, /*bias=*/false, seed++);
      }
}

TEST_F(LayerNormCuda, WideRowsUseBlockPerRow) {
  std::uint64_t seed = 200;
  for (int threads : {64, 512})
    for (std::int64_t cols : {1025, 1500}) {
      cuda::ScopedBlockThreads launch(threads);
      check_ensemble(1, 3, cols, true, false, seed++);
    }
}

TEST_F(LayerNormCuda, EnsembleEpilogueWithBiasForOneToEightMembers) {
  std::uint64_t seed = 300;
  for (std::int64_t members = 1; members <= 8; ++members) check_ensemble(members, 9, 45, true, true, seed++);
  check_ensemble(5, 16, 512, true, true, seed++);  // TD-MPC2's Q ensemble hidden layer, 16 rows
  check_ensemble(3, 4, 64, false, true, seed++);
}

TEST_F(LayerNormCuda, ForwardOnlyAndInputGradOnlyPaths) {
  const std::int64_t rows = 4, cols = 40;
  const auto n = static_cast<std::size_t>(rows * cols);
  const auto x = random_vector(n, 1), gy = random_vector(n, 2), gamma = random_vector(cols, 3),
             beta = random_vector(cols, 4);
  DeviceBuffer<float> dx(x), dgy(gy), dgamma(gamma), dbeta(beta), y(n), gx(n), mean(rows), rstd(rows);
  kernels::layernorm_forward_cuda(dx.get(), dgamma.get(), dbeta.get(), y.get(), mean.get(), rstd.get(), rows,
                                  cols, 1e-5f, true, nullptr);
#if defined(LUCID_EMU)
  emu::reset_counters();
#endif
  kernels::layernorm_backward_cuda(dx.get(), dgamma.get(), dbeta.get(), mean.get(), rstd.get(), dgy.get(),
                                   gx.get(), nullptr, nullptr, rows, cols, true, nullptr);
#if defined(LUCID_EMU)
  EXPECT_EQ(emu::total_counters().kernel_launches, 1u)
      << "no parameter gradients: the column kernel is skipped";
#endif
  EXPECT_THROW(kernels::ensemble_layernorm_backward_cuda(
                   dx.get(), dgamma.get(), dgamma.get(), dbeta.get(), mean.get(), rstd.get(), dgy.get(),
                   nullptr, dgamma.get(), nullptr, nullptr, 1, rows, cols, true, nullptr),
               Error);
}

}  // namespace
}  // namespace lucid
