// The engine's generic device kernels on the emulated GPU against their CPU references, sweeping
// shapes that are not multiples of 32 and block sizes: every unary op forward and backward,
// broadcasting binary ops (both inputs broadcast), expand, fill and accumulate
// (elementwise.cu); strided row copies, row gather and scatter-add with a repeated index, the
// arg scatter (copy.cu); fused MSE (loss.cu); row-major GEMM in all four transpose cases and the
// strided-batched GEMM with a shared (stride 0) operand (gemm.cu, the emulator's cuBLAS shim).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "emu_fixture.h"
#include "lucid/kernels/cuda/copy.h"
#include "lucid/kernels/cuda/elementwise.h"
#include "lucid/kernels/cuda/gemm.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/loss.h"
#include "lucid/kernels/elementwise.h"
#include "lucid/kernels/gemm.h"
#include "lucid/kernels/loss.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using kernels::BinaryOp;
using kernels::Dims4;
using kernels::UnaryOp;
using testing::all_close;
using testing::DeviceBuffer;
using testing::random_vector;

class ElementwiseCuda : public testing::EmuTest {};
class CopyCuda : public testing::EmuTest {};
class GemmCuda : public testing::EmuTest {};

std::int64_t numel(const Dims4& d) { return d.d[0] * d.d[1] * d.d[2] * d.d[3]; }

TEST_F(ElementwiseCuda, EveryUnaryOpForwardAndBackwardMatchesCpu) {
  const std::int64_t n = 1000;  // > one 256-thread block, not a multiple of 32
  // Inputs in (0.3, 3): valid for log and sqrt, away from the relu/clamp kinks' tie points.
  const auto x = random_vector(n, 1, 0.3f, 3.f), gy = random_vector(n, 2);
  const DeviceBuffer<float> dx(x), dgy(gy);
  for (int threads : {32, 160, 256})
    for (int k = 0; k <= static_cast<int>(UnaryOp::kAffine); ++k) {
      const auto op = static_cast<UnaryOp>(k);
      const float a = op == UnaryOp::kClamp ? 0.5f : 0.7f, b = op == UnaryOp::kClamp ? 2.f : -0.2f;
      SCOPED_TRACE(::testing::Message() << "threads=" << threads << " op=" << k);
      cuda::ScopedBlockThreads launch(threads);
      std::vector<float> y(n), gx(n);
      kernels::unary_forward_cpu(op, x.data(), y.data(), n, a, b);
      kernels::unary_backward_cpu(op, x.data(), y.data(), gy.data(), gx.data(), n, a, b);
      DeviceBuffer<float> dy(n), dgx(n);
      kernels::unary_forward_cuda(op, dx.get(), dy.get(), n, a, b, nullptr);
      kernels::unary_backward_cuda(op, dx.get(), dy.get(), dgy.get(), dgx.get(), n, a, b, nullptr);
      EXPECT_TRUE(all_close(dy.download().data(), y.data(), y.size(), 1e-6, 1e-5));
      EXPECT_TRUE(all_close(dgx.download().data(), gx.data(), gx.size(), 1e-6, 1e-5));
    }
}

TEST_F(ElementwiseCuda, BroadcastingBinaryOpsAndTheirReductionsMatchCpu) {
  struct Case {
    Dims4 a, b, out;
  };
  const std::vector<Case> cases = {
      {{{1, 1, 7, 45}}, {{1, 1, 7, 45}}, {{1, 1, 7, 45}}},  // same
      {{{1, 1, 7, 45}}, {{1, 1, 1, 45}}, {{1, 1, 7, 45}}},  // bias row
      {{{1, 1, 7, 45}}, {{1, 1, 7, 1}}, {{1, 1, 7, 45}}},   // column
      {{{2, 1, 5, 33}}, {{1, 3, 1, 33}}, {{2, 3, 5, 33}}},  // both broadcast
      {{{1, 1, 1, 1}}, {{2, 3, 4, 5}}, {{2, 3, 4, 5}}},     // scalar a
  };
  std::uint64_t seed = 10;
  for (int threads : {32, 256})
    for (const Case& c : cases)
      for (int k = 0; k <= static_cast<int>(BinaryOp::kMax); ++k) {
        const auto op = static_cast<BinaryOp>(k);
        SCOPED_TRACE(::testing::Message() << "threads=" << threads << " op=" << k << " out=" << numel(c.out));
        cuda::ScopedBlockThreads launch(threads);
        const auto a = random_vector(numel(c.a), seed++), b = random_vector(numel(c.b), seed++, 0.5f, 1.5f);
        const auto g = random_vector(numel(c.out), seed++);
        std::vector<float> y(numel(c.out)), ga(a.size()), gb(b.size());
        kernels::binary_forward_cpu(op, a.data(), c.a, b.data(), c.b, y.data(), c.out);
        kernels::binary_backward_cpu(op, a.data(), c.a, b.data(), c.b, g.data(), c.out, ga.data(), gb.data());
        const DeviceBuffer<float> da(a), db(b), dg(g);
        DeviceBuffer<float> dy(y.size()), dga(a.size()), dgb(b.size());
        kernels::binary_forward_cuda(op, da.get(), c.a, db.get(), c.b, dy.get(), c.out, nullptr);
        kernels::binary_backward_cuda(op, da.get(), c.a, db.get(), c.b, dg.get(), c.out, dga.get(), dgb.get(),
                                      nullptr);
        EXPECT_TRUE(all_close(dy.download().data(), y.data(), y.size(), 1e-6, 1e-6));
        EXPECT_TRUE(all_close(dga.download().data(), ga.data(), ga.size(), 1e-5, 1e-5));
        EXPECT_TRUE(all_close(dgb.download().data(), gb.data(), gb.size(), 1e-5, 1e-5));
      }
}

TEST_F(ElementwiseCuda, ExpandFillAndAccumulate) {
  const Dims4 src{{1, 3, 1, 37}}, dst{{1, 3, 11, 37}};
  const auto s = random_vector(numel(src), 20), base = random_vector(numel(dst), 21);
  const DeviceBuffer<float> ds(s);
  for (int threads : {32, 256}) {
    cuda::ScopedBlockThreads launch(threads);
    DeviceBuffer<float> dd(numel(dst)), acc(base);
    kernels::expand_cuda(ds.get(), src, dd.get(), dst, -2.f, nullptr);
    const auto got = dd.download();
    for (int g = 0; g < 3; ++g)
      for (int r = 0; r < 11; ++r)
        for (int c = 0; c < 37; ++c) ASSERT_EQ(got[(g * 11 + r) * 37 + c], -2.f * s[g * 37 + c]);
    kernels::accumulate_cuda(acc.get(), dd.get(), numel(dst), nullptr);
    const auto sum = acc.download();
    for (std::size_t i = 0; i < sum.size(); ++i) ASSERT_EQ(sum[i], base[i] + got[i]);
    kernels::fill_cuda(dd.get(), numel(dst) - 1, 4.5f, nullptr);  // all but the last element
    const auto filled = dd.download();
    EXPECT_EQ(filled.front(), 4.5f);
    EXPECT_EQ(filled[filled.size() - 2], 4.5f);
    EXPECT_EQ(filled.back(), got.back());
  }
}

TEST_F(ElementwiseCuda, MseForwardAndBackwardMatchCpu) {
  for (std::int64_t n : {1, 31, 1000, 70001}) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    const auto a = random_vector(n, 30 + n), b = random_vector(n, 31 + n);
    const float ref = kernels::mse_forward_cpu(a.data(), b.data(), n);
    std::vector<float> ga(n), gb(n);
    kernels::mse_backward_cpu(a.data(), b.data(), 0.75f, ga.data(), gb.data(), n);
    const DeviceBuffer<float> da(a), db(b), g(std::vector<float>{0.75f});
    DeviceBuffer<float> out(1), dga(n), dgb(n);
    kernels::mse_forward_cuda(da.get(), db.get(), n, out.get(), nullptr);
    kernels::mse_backward_cuda(da.get(), db.get(), g.get(), dga.get(), dgb.get(), n, nullptr);
    EXPECT_NEAR(out.download()[0], ref, 1e-6 * ref);
    EXPECT_TRUE(all_close(dga.download().data(), ga.data(), ga.size(), 1e-7, 1e-5));
    EXPECT_TRUE(all_close(dgb.download().data(), gb.data(), gb.size(), 1e-7, 1e-5));
  }
}

TEST_F(CopyCuda, GatherScatterAndArgScatterMatchLoops) {
  const std::int64_t n = 9, inner = 45;
  const std::vector<std::int64_t> index = {8, 0, 3, 3, 7, 0, 3};  // repeats add up in the scatter
  const auto x = random_vector(n * inner, 40), g = random_vector(index.size() * inner, 41);
  const DeviceBuffer<float> dx(x), dg(g);
  for (int threads : {32, 96, 256}) {
    cuda::ScopedBlockThreads launch(threads);
    DeviceBuffer<float> dy(index.size() * inner), dgx(std::vector<float>(n * inner, 0.f));
    kernels::gather_rows_cuda(dx.get(), n, inner, index.data(), static_cast<std::int64_t>(index.size()),
                              dy.get(), nullptr);
    kernels::scatter_add_rows_cuda(dg.get(), static_cast<std::int64_t>(index.size()), inner, index.data(), n,
                                   dgx.get(), nullptr);
    const auto y = dy.download(), gx = dgx.download();
    std::vector<double> ref_gx(n * inner, 0.0);
    for (std::size_t i = 0; i < index.size(); ++i)
      for (std::int64_t c = 0; c < inner; ++c) {
        ASSERT_EQ(y[i * inner + c], x[index[i] * inner + c]);
        ref_gx[index[i] * inner + c] += g[i * inner + c];
      }
    EXPECT_TRUE(all_close(gx.data(), ref_gx.data(), gx.size(), 1e-6, 1e-6));
  }
  const std::vector<std::int64_t> bad = {0, 9};
  DeviceBuffer<float> dy(2 * inner);
  EXPECT_THROW(kernels::gather_rows_cuda(dx.get(), n, inner, bad.data(), 2, dy.get(), nullptr), ShapeError);

  // Max/min backward: the gradient goes to each row's saved arg, zero elsewhere.
  const std::vector<std::int64_t> arg = {4, 0, 44};
  const std::vector<float> gr = {1.5f, -2.f, 3.f};
  DeviceBuffer<std::int64_t> darg(arg);
  const DeviceBuffer<float> dgr(gr);
  DeviceBuffer<float> out(3 * inner);
  kernels::scatter_last_cuda(dgr.get(), darg.get(), out.get(), 3, inner, nullptr);
  const auto o = out.download();
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < inner; ++c) ASSERT_EQ(o[r * inner + c], c == arg[r] ? gr[r] : 0.f);
}

TEST_F(GemmCuda, RowMajorGemmInEveryTransposeCaseMatchesCpu) {
  const int m = 13, n = 37, k = 21;
  std::uint64_t seed = 50;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (float beta : {0.f, 1.f}) {
        SCOPED_TRACE(::testing::Message() << "ta=" << ta << " tb=" << tb << " beta=" << beta);
        const int lda = ta ? m : k, ldb = tb ? k : n;
        const auto a = random_vector(static_cast<std::size_t>(m * k), seed++),
                   b = random_vector(static_cast<std::size_t>(k * n), seed++);
        auto c = random_vector(static_cast<std::size_t>(m * n), seed++);
        const DeviceBuffer<float> da(a), db(b);
        DeviceBuffer<float> dc(c);
        kernels::gemm_cuda(ta, tb, m, n, k, 0.5f, da.get(), lda, db.get(), ldb, beta, dc.get(), n, nullptr);
        kernels::gemm_cpu(ta, tb, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, beta, c.data(), n);
        EXPECT_TRUE(all_close(dc.download().data(), c.data(), c.size(), 1e-5, 1e-5));
      }
}

TEST_F(GemmCuda, StridedBatchedWithASharedOperandEqualsPerMemberGemms) {
  const int members = 5, m = 9, n = 23, k = 17;
  const auto x = random_vector(static_cast<std::size_t>(m * k), 60);  // shared: stride 0
  const auto w = random_vector(static_cast<std::size_t>(members * n * k), 61);
  const DeviceBuffer<float> dx(x), dw(w);
  DeviceBuffer<float> dy(static_cast<std::size_t>(members * m * n));
  kernels::gemm_strided_batched_cuda(false, true, m, n, k, 1.f, dx.get(), k, 0, dw.get(), k, n * k, 0.f,
                                     dy.get(), n, m * n, members, nullptr);
  std::vector<float> ref(static_cast<std::size_t>(members * m * n));
  for (int e = 0; e < members; ++e)
    kernels::gemm_cpu(false, true, m, n, k, 1.f, x.data(), k, w.data() + e * n * k, k, 0.f,
                      ref.data() + e * m * n, n);
  EXPECT_TRUE(all_close(dy.download().data(), ref.data(), ref.size(), 1e-5, 1e-5));
#if defined(LUCID_EMU)
  emu::reset_counters();
  kernels::gemm_strided_batched_cuda(false, true, m, n, k, 1.f, dx.get(), k, 0, dw.get(), k, n * k, 0.f,
                                     dy.get(), n, m * n, members, nullptr);
  EXPECT_EQ(emu::total_counters().kernel_launches, 1u) << "all members in one cuBLAS call";
#endif
}

}  // namespace
}  // namespace lucid
