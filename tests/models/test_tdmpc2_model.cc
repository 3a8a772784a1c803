// TD-MPC2 model: parameter counts of the official presets, initial predictions, and the
// hand-written MLP backward against central finite differences in every layer kind.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "hd/activations.h"
#include "lucid/engine/rng.h"
#include "lucid/error.h"
#include "lucid/models/tdmpc2/model.h"

namespace lucid::models::tdmpc2 {
namespace {

// Official counts for obs 24 / action 6, single task (facts/tdmpc2.md §1.2); counted from the
// layout alone, so the 317M preset costs no memory.
TEST(Tdmpc2Layout, ParamCountsMatchOfficialPresets) {
  const std::pair<int, std::size_t> expected[] = {
      {1, 1214651}, {5, 4960618}, {19, 18062442}, {48, 47208298}, {317, 312595417}};
  for (auto [size, count] : expected)
    EXPECT_EQ(tdmpc2_layout(tdmpc2_preset(size, 24, 6)).layout.size(), count) << size;
}

TEST(Tdmpc2Layout, FiveMillionPresetPerComponent) {
  const Tdmpc2Layout t = tdmpc2_layout(tdmpc2_preset(5, 24, 6));
  EXPECT_EQ(t.encoder.size(), 139520u);
  EXPECT_EQ(t.dynamics.size(), 794112u);
  EXPECT_EQ(t.reward.size(), 582245u);
  EXPECT_EQ(t.pi.size(), 533516u);
  EXPECT_EQ(t.q_end() - t.q_begin(), 5u * 582245u);
}

// Multitask: a (tasks, task_dim) embedding plus task_dim extra inputs in every network.
TEST(Tdmpc2Layout, MultitaskAddsEmbeddingAndInputs) {
  const Tdmpc2Config single = tdmpc2_preset(1, 24, 6);
  const Tdmpc2Config multi = tdmpc2_preset(1, 24, 6, 80);
  EXPECT_EQ(multi.task_dim, 96);
  const std::size_t hidden = static_cast<std::size_t>(single.mlp_dim);
  const std::size_t extra_inputs = 96u * (single.enc_dim + hidden * (3 + single.num_q));
  EXPECT_EQ(tdmpc2_layout(multi).layout.size(),
            tdmpc2_layout(single).layout.size() + 80u * 96u + extra_inputs);
  EXPECT_EQ(tdmpc2_preset(5, 24, 6, 30).task_dim, 64);
  EXPECT_EQ(tdmpc2_preset(19, 24, 6, 30).latent_dim, 512);
}

TEST(Tdmpc2Layout, RejectsUnknownSize) { EXPECT_THROW(tdmpc2_preset(7, 24, 6), ConfigError); }

// Zero-initialised last layers: reward and every Q head predict exactly 0 at start; latents are
// SimNorm simplices (each group of 8 sums to 1).
TEST(Tdmpc2Model, InitialPredictionsAndSimplexLatents) {
  Tdmpc2Model m(tdmpc2_preset(1, 5, 2));
  Rng rng(3);
  m.init(rng);
  const int B = 3;
  std::vector<float> obs(B * 5), z(B * 128), a(B * 2, 0.3f), r(B), v(B), zn(B * 128);
  rng.normal(obs.data(), obs.size());
  m.encode_raw(obs.data(), B, z.data());
  for (int g = 0; g < B * 128 / 8; ++g) {
    float s = 0.f;
    for (int j = 0; j < 8; ++j) s += z[g * 8 + j];
    EXPECT_NEAR(s, 1.f, 1e-5f);
  }
  m.reward_raw(z.data(), a.data(), B, r.data());
  m.q_raw(z.data(), a.data(), B, {}, false, v.data());
  for (int b = 0; b < B; ++b) {
    EXPECT_NEAR(r[b], 0.f, 1e-5f);
    EXPECT_NEAR(v[b], 0.f, 1e-5f);
  }
  m.next_raw(z.data(), a.data(), B, zn.data());
  EXPECT_NE(zn[0], z[0]);
}

// Finite differences through an MLP with every layer kind: dropout mask, LN + Mish, LN + SimNorm.
double mlp_objective(const Mlp& mlp, const std::vector<float>& p, const std::vector<float>& x,
                     const std::vector<float>& mask, const std::vector<float>& w, int rows) {
  MlpCache c;
  c.reserve(mlp, rows);
  std::copy(x.begin(), x.end(), c.input());
  mlp_forward(mlp, p.data(), c, rows, mask.data());
  double s = 0;
  for (std::size_t i = 0; i < w.size(); ++i) s += static_cast<double>(w[i]) * c.output()[i];
  return s;
}

void check_mlp_gradients(bool simnorm_out) {
  ParamLayout layout;
  const int in = 5, out = 16, rows = 3;
  Mlp mlp(layout, "m", in, {7, 9}, out, simnorm_out, true, 8);
  Rng rng(11);
  std::vector<float> p(layout.size()), x(rows * in), w(rows * out), mask(rows * 7, 1.f / 0.9f);
  rng.normal(p.data(), p.size());
  for (float& v : p) v *= 0.5f;
  rng.normal(x.data(), x.size());
  rng.normal(w.data(), w.size());
  mask[2] = mask[10] = 0.f;
  MlpCache c;
  c.reserve(mlp, rows);
  std::copy(x.begin(), x.end(), c.input());
  mlp_forward(mlp, p.data(), c, rows, mask.data());
  std::vector<float> g(layout.size(), 0.f), dx(rows * in);
  mlp_backward(mlp, p.data(), g.data(), c, w.data(), dx.data());
  const float h = 1e-2f;
  for (std::size_t i = 0; i < p.size(); i += 7) {
    auto pp = p, pm = p;
    pp[i] += h;
    pm[i] -= h;
    const double fd =
        (mlp_objective(mlp, pp, x, mask, w, rows) - mlp_objective(mlp, pm, x, mask, w, rows)) / (2 * h);
    EXPECT_NEAR(g[i], fd, 2e-3 + 2e-2 * std::fabs(fd)) << "param " << i;
  }
  for (std::size_t i = 0; i < x.size(); ++i) {
    auto xp = x, xm = x;
    xp[i] += h;
    xm[i] -= h;
    const double fd =
        (mlp_objective(mlp, p, xp, mask, w, rows) - mlp_objective(mlp, p, xm, mask, w, rows)) / (2 * h);
    EXPECT_NEAR(dx[i], fd, 2e-3 + 2e-2 * std::fabs(fd)) << "input " << i;
  }
}

TEST(Tdmpc2Mlp, BackwardMatchesFiniteDifferencesLinearOut) { check_mlp_gradients(false); }
TEST(Tdmpc2Mlp, BackwardMatchesFiniteDifferencesSimNormOut) { check_mlp_gradients(true); }

// The MLP's Mish is the shared hd:: scalar math (through kernels::layernorm_forward_cpu).
TEST(Tdmpc2Mlp, MishMatchesDefinition) {
  for (float x : {-30.f, -5.f, -1.f, -0.1f, 0.f, 0.3f, 2.f, 15.f, 25.f}) {
    const double ref = x * std::tanh(std::log1p(std::exp(static_cast<double>(x))));
    EXPECT_NEAR(hd::mish(x), ref, 1e-6 + 1e-6 * std::fabs(ref)) << x;
    const double e = 1e-3;
    auto m = [](double v) { return v * std::tanh(std::log1p(std::exp(v))); };
    EXPECT_NEAR(hd::mish_grad(x), (m(x + e) - m(x - e)) / (2 * e), 1e-4) << x;
  }
}

// The planning shortcut: rows that share their first input columns ([z | a_r] with one z) give
// the values of the plain forward on the concatenated rows, for a normed (Mish) first layer and
// for the SimNorm dynamics, with packed (versioned) and BLAS weights alike.
TEST(Tdmpc2Model, SharedPrefixForwardEqualsConcatenatedRows) {
  Tdmpc2Model m(tdmpc2_preset(1, 5, 3));
  Rng rng(9);
  std::span<float> p = m.params();
  rng.normal(p.data(), p.size());
  for (float& x : p) x *= 0.1f;
  m.bump_weights_version();
  const int L = m.latent_dim(), A = 3, n = 13;
  std::vector<float> z(L), a(static_cast<std::size_t>(n) * A);
  rng.normal(z.data(), z.size());
  rng.normal(a.data(), a.size());
  for (const Mlp* mlp : {&m.layout().reward, &m.layout().dynamics}) {
    for (std::uint64_t version : {m.weights_version(), kUnversionedWeights}) {
      MlpCache full, shared;
      full.reserve(*mlp, n);
      shared.reserve(*mlp, n);
      concat_rows(std::vector<float>(static_cast<std::size_t>(n) * L).data(), L, a.data(), A, n,
                  full.input());
      for (int r = 0; r < n; ++r)
        std::copy(z.begin(), z.end(), full.input() + static_cast<std::size_t>(r) * (L + A));
      mlp_forward(*mlp, m.block(*mlp), full, n, nullptr, version);
      mlp_forward_shared_prefix(*mlp, m.block(*mlp), shared, n, z.data(), L, a.data(), version);
      for (int i = 0; i < n * mlp->out_dim(); ++i)
        ASSERT_NEAR(shared.output()[i], full.output()[i], 2e-5f) << i;
    }
  }
  // And through the WorldModel query: reward and next latent as reward_into + next_into.
  Tensor zs = Tensor::from(z, Shape{1, L});
  Tensor zr = Tensor::zeros(Shape{n, L});
  for (int r = 0; r < n; ++r) std::copy(z.begin(), z.end(), zr.data() + static_cast<std::size_t>(r) * L);
  const Tensor at = Tensor::from(a, Shape{n, A});
  Tensor r1 = Tensor::zeros(Shape{n, 1}), z1 = Tensor::zeros(Shape{n, L});
  m.step_from_shared_into(zs, zr, at, r1, z1);
  const Tensor r2 = m.reward(zr, at), z2 = m.next(zr, at);
  for (int i = 0; i < n; ++i)
    EXPECT_NEAR(r1.data()[i], r2.data()[i], 1e-4f * (1.f + std::fabs(r2.data()[i])));
  for (int i = 0; i < n * L; ++i) EXPECT_NEAR(z1.data()[i], z2.data()[i], 1e-5f);
  EXPECT_THROW(m.step_from_shared_into(zr, zr, at, r1, z1), ShapeError);
}

}  // namespace
}  // namespace lucid::models::tdmpc2
