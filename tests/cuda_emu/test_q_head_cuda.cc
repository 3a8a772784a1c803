// The fused Q-ensemble output epilogue (bias + 101-bin softmax decode + min/avg of two heads) on
// the emulated GPU against an unfused double-precision composition (softmax, expectation over bin
// centres, symexp, min/avg), and its backward against central finite differences of that
// composition, for E = 1..8 heads, odd row counts and block sizes.
// Kernels covered (through q_head_decode_*_cuda): q_decode_forward_kernel, q_decode_backward_kernel.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "emu_fixture.h"
#include "lucid/kernels/cuda/launch.h"
#include "lucid/kernels/cuda/q_head.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using kernels::QCombine;
using testing::all_close;
using testing::DeviceBuffer;
using testing::random_vector;

class QHeadCuda : public testing::EmuTest {};

constexpr int kBins = 101;
constexpr float kVmin = -10.f, kVmax = 10.f;

// Unfused reference: decode of head e at row r, in double.
double decode(const std::vector<float>& logits, const std::vector<float>& bias, std::int64_t e,
              std::int64_t r, std::int64_t rows) {
  const std::size_t base = static_cast<std::size_t>((e * rows + r) * kBins);
  double mx = -1e300;
  std::vector<double> z(kBins);
  for (int k = 0; k < kBins; ++k) {
    z[k] = static_cast<double>(logits[base + static_cast<std::size_t>(k)]) +
           bias[static_cast<std::size_t>(e * kBins + k)];
    mx = std::max(mx, z[k]);
  }
  double s = 0, sc = 0;
  for (int k = 0; k < kBins; ++k) {
    const double p = std::exp(z[k] - mx);
    s += p;
    sc += p * (kVmin + (kVmax - kVmin) * k / (kBins - 1));
  }
  const double m = sc / s;
  return std::copysign(std::expm1(std::abs(m)), m);
}

double combined(const std::vector<float>& logits, const std::vector<float>& bias, std::int64_t r,
                std::int64_t rows, int a, int b, QCombine c) {
  const double va = decode(logits, bias, a, r, rows), vb = decode(logits, bias, b, r, rows);
  return c == QCombine::kMin ? std::min(va, vb) : 0.5 * (va + vb);
}

TEST_F(QHeadCuda, DecodeAndCombineMatchUnfusedComposition) {
  std::uint64_t seed = 1;
  for (std::int64_t members = 1; members <= 8; ++members)
    for (QCombine c : {QCombine::kMin, QCombine::kAvg}) {
      const int threads = members % 2 ? 64 : 128;
      cuda::ScopedBlockThreads launch(threads);
      const std::int64_t rows = 7 + members;
      const int a = static_cast<int>(members - 1), b = static_cast<int>(members / 2);
      SCOPED_TRACE(::testing::Message()
                   << "E=" << members << " heads " << a << "," << b << " min=" << (c == QCombine::kMin));
      const auto nl = static_cast<std::size_t>(members * rows * kBins);
      const auto logits = random_vector(nl, seed++, -2.f, 2.f);
      const auto bias = random_vector(static_cast<std::size_t>(members * kBins), seed++, -1.f, 1.f);
      std::vector<double> values_ref(static_cast<std::size_t>(members * rows)),
          out_ref(static_cast<std::size_t>(rows));
      for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t e = 0; e < members; ++e)
          values_ref[static_cast<std::size_t>(e * rows + r)] = decode(logits, bias, e, r, rows);
        out_ref[static_cast<std::size_t>(r)] = combined(logits, bias, r, rows, a, b, c);
      }
      DeviceBuffer<float> dl(logits), db(bias), values(values_ref.size()), out(out_ref.size());
      kernels::q_head_decode_forward_cuda(dl.get(), db.get(), values.get(), out.get(), members, rows, kBins,
                                          kVmin, kVmax, a, b, c, nullptr);
      EXPECT_TRUE(all_close(values.download().data(), values_ref.data(), values_ref.size(), 1e-5, 1e-4));
      EXPECT_TRUE(all_close(out.download().data(), out_ref.data(), out_ref.size(), 1e-5, 1e-4));

      // Without the per-head values only the two chosen heads are decoded; out is unchanged.
      DeviceBuffer<float> out2(out_ref.size());
      kernels::q_head_decode_forward_cuda(dl.get(), db.get(), nullptr, out2.get(), members, rows, kBins,
                                          kVmin, kVmax, a, b, c, nullptr);
      EXPECT_EQ(out2.download(), out.download());
    }
}

TEST_F(QHeadCuda, BackwardMatchesFiniteDifferences) {
  const std::int64_t members = 5, rows = 3;
  for (QCombine c : {QCombine::kMin, QCombine::kAvg})
    for (auto [a, b] : {std::pair{1, 3}, std::pair{2, 2}}) {
      SCOPED_TRACE(::testing::Message() << "heads " << a << "," << b << " min=" << (c == QCombine::kMin));
      const auto nl = static_cast<std::size_t>(members * rows * kBins);
      auto logits = random_vector(nl, 70 + static_cast<std::uint64_t>(a), -2.f, 2.f);
      const auto bias = random_vector(static_cast<std::size_t>(members * kBins), 71, -1.f, 1.f);
      const auto g_out = random_vector(static_cast<std::size_t>(rows), 72);
      DeviceBuffer<float> dl(logits), db(bias), dg(g_out), g_logits(nl);
      kernels::q_head_decode_backward_cuda(dl.get(), db.get(), dg.get(), g_logits.get(), members, rows, kBins,
                                           kVmin, kVmax, a, b, c, nullptr);
      const auto got = g_logits.download();
      // L = sum_r g_out[r] * out[r]; central differences in double on a spread of logits.
      std::vector<double> fd(nl, 0.0);
      std::vector<std::size_t> probes;
      for (std::size_t i = 0; i < nl; i += 37) probes.push_back(i);
      for (std::size_t i : probes) {
        const float saved = logits[i];
        const float h = 1e-2f;
        auto loss = [&](float v) {
          logits[i] = v;
          double l = 0;
          for (std::int64_t r = 0; r < rows; ++r)
            l += g_out[static_cast<std::size_t>(r)] * combined(logits, bias, r, rows, a, b, c);
          return l;
        };
        fd[i] = (loss(saved + h) - loss(saved - h)) / (2.0 * h);
        logits[i] = saved;
        EXPECT_NEAR(got[i], fd[i], 2e-3 + 2e-2 * std::abs(fd[i])) << "logit " << i;
      }
      // Heads that do not reach the output get exactly zero.
      for (std::int64_t e = 0; e < members; ++e) {
        if (e == a || e == b) continue;
        for (std::int64_t k = 0; k < rows * kBins; ++k)
          ASSERT_EQ(got[static_cast<std::size_t>(e * rows * kBins + k)], 0.f);
      }
    }
}

TEST_F(QHeadCuda, RejectsHeadsOutsideTheEnsemble) {
  DeviceBuffer<float> l(2 * kBins), o(1);
  EXPECT_THROW(kernels::q_head_decode_forward_cuda(l.get(), nullptr, nullptr, o.get(), 2, 1, kBins, kVmin,
                                                   kVmax, 0, 2, QCombine::kMin, nullptr),
               ShapeError);
}

}  // namespace
}  // namespace lucid
