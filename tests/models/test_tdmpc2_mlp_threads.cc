// The TD-MPC2 MLP under lucid's threads: a forward run in blocks of rows (mlp_forward_begin /
// mlp_forward_rows, as the agent's update runs chains of networks one block per thread) leaves the
// cache a whole-batch forward leaves, and the backward's two-core form (each layer's weight and
// input gradients as two jobs) gives the one-thread gradients, for every combination of gradients
// asked for (parameters and/or input, input from a column on).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "lucid/engine/rng.h"
#include "lucid/error.h"
#include "lucid/kernels/threading.h"
#include "lucid/models/tdmpc2/mlp.h"

namespace lucid::models::tdmpc2 {
namespace {

// A Q-head-shaped MLP (dropout first layer, two LN + Mish layers, linear out) large enough that
// its GEMMs and row kernels split over two threads, or a SimNorm-out one (the dynamics' shape).
struct Net {
  ParamLayout layout;
  Mlp mlp;
  std::vector<float> params, x, mask, dy;
  static constexpr int kRows = 200, kIn = 70, kHidden = 128;
  explicit Net(bool simnorm_out)
      : mlp(layout, "q", kIn, {kHidden, kHidden}, simnorm_out ? 64 : 101, simnorm_out, !simnorm_out) {
    Rng rng(21);
    params.resize(layout.size());
    rng.normal(params.data(), params.size());
    for (float& v : params) v *= 0.1f;
    x.resize(static_cast<std::size_t>(kRows) * kIn);
    rng.normal(x.data(), x.size());
    mask.resize(static_cast<std::size_t>(kRows) * kHidden);
    rng.dropout_mask(mask.data(), mask.size(), 0.01f);
    dy.resize(static_cast<std::size_t>(kRows) * mlp.out_dim());
    rng.normal(dy.data(), dy.size());
  }
  const float* mask_or_null() const { return mlp.layers().front().dropout ? mask.data() : nullptr; }
};

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5f + 1e-5f * std::fabs(want[i])) << what << " [" << i << "]";
}

class MlpThreads : public ::testing::TestWithParam<bool> {
 protected:
  void TearDown() override { kernels::set_num_threads(1); }
};

TEST_P(MlpThreads, ForwardInRowBlocksEqualsTheWholeBatch) {
  Net n(GetParam());
  kernels::set_num_threads(2);
  MlpCache whole, blocks;
  whole.reserve(n.mlp, Net::kRows);
  blocks.reserve(n.mlp, Net::kRows);
  std::copy(n.x.begin(), n.x.end(), whole.input());
  mlp_forward(n.mlp, n.params.data(), whole, Net::kRows, n.mask_or_null());

  // Three blocks (not 16-aligned) over two threads, each writing its own input rows first.
  mlp_forward_begin(blocks, Net::kRows, n.mask_or_null());
  const int parts = 3;
  kernels::parallel_jobs(parts, [&](int i) {
    const auto [r0, r1] = kernels::block_range(Net::kRows, parts, i);
    std::copy(n.x.begin() + static_cast<std::ptrdiff_t>(r0) * Net::kIn,
              n.x.begin() + static_cast<std::ptrdiff_t>(r1) * Net::kIn,
              blocks.input() + static_cast<std::ptrdiff_t>(r0) * Net::kIn);
    mlp_forward_rows(n.mlp, n.params.data(), blocks, r0, r1);
  });
  const std::size_t out = static_cast<std::size_t>(Net::kRows) * n.mlp.out_dim();
  expect_close({blocks.output(), blocks.output() + out}, {whole.output(), whole.output() + out}, "output");

  // The blocked cache feeds the backward as the whole one does.
  std::vector<float> g_whole(n.layout.size(), 0.f), g_blocks(n.layout.size(), 0.f);
  std::vector<float> dx_whole(n.x.size()), dx_blocks(n.x.size());
  mlp_backward(n.mlp, n.params.data(), g_whole.data(), whole, n.dy.data(), dx_whole.data());
  mlp_backward(n.mlp, n.params.data(), g_blocks.data(), blocks, n.dy.data(), dx_blocks.data());
  expect_close(g_blocks, g_whole, "parameter gradient");
  expect_close(dx_blocks, dx_whole, "input gradient");
}

TEST_P(MlpThreads, TwoCoreBackwardEqualsOneThread) {
  Net n(GetParam());
  // grads and/or dx, dx from column 0 or from a later column (the policy loss's action columns).
  struct Case {
    bool grads, dx;
    int first_col;
  };
  for (const Case k :
       {Case{true, true, 0}, Case{true, true, 64}, Case{false, true, 64}, Case{true, false, 0}}) {
    std::vector<float> g[2], dx[2];
    for (const int threads : {1, 2}) {
      kernels::set_num_threads(threads);
      MlpCache c;
      c.reserve(n.mlp, Net::kRows);
      std::copy(n.x.begin(), n.x.end(), c.input());
      mlp_forward(n.mlp, n.params.data(), c, Net::kRows, n.mask_or_null());
      std::vector<float>& gt = g[threads - 1];
      std::vector<float>& dxt = dx[threads - 1];
      gt.assign(n.layout.size(), 0.5f);  // accumulates (+=)
      dxt.assign(n.x.size(), -7.f);      // columns before first_col stay untouched
      mlp_backward(n.mlp, n.params.data(), k.grads ? gt.data() : nullptr, c, n.dy.data(),
                   k.dx ? dxt.data() : nullptr, k.first_col);
    }
    SCOPED_TRACE(::testing::Message()
                 << "grads " << k.grads << " dx " << k.dx << " from column " << k.first_col);
    expect_close(g[1], g[0], "parameter gradient");
    expect_close(dx[1], dx[0], "input gradient");
    if (k.dx && k.first_col > 0) {
      EXPECT_EQ(dx[1][0], -7.f) << "a column before dx_first_col was written";
    }
    if (!k.grads) {
      EXPECT_EQ(g[1][0], 0.5f) << "detached weights got a gradient";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Heads, MlpThreads, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? std::string("SimNormOut") : std::string("LinearOutDropout");
                         });

TEST(MlpRowBlocks, RejectsABlockOutsideTheBatch) {
  Net n(false);
  MlpCache c;
  c.reserve(n.mlp, Net::kRows);
  mlp_forward_begin(c, 100);
  EXPECT_THROW(mlp_forward_rows(n.mlp, n.params.data(), c, 90, 120), Error);
  EXPECT_THROW(mlp_forward_rows(n.mlp, n.params.data(), c, 50, 40), Error);
  EXPECT_THROW(mlp_forward_begin(c, Net::kRows + 1), Error);
}

}  // namespace
}  // namespace lucid::models::tdmpc2
