// Golden test against PyTorch: a TD-MPC2-shaped network (NormedLinear layers, SimNorm latent, a
// two-hot CE reward head, an ensemble of Q heads) and TD-MPC2's loss; forward outputs, losses and
// every parameter gradient must match tests/engine/golden/tdmpc2_small.bin, written by
// tools/golden/make_engine_golden.py (see its docstring for the network and the file format).
// Runs on every device of the build (device_suite.h): on CUDA the arena and inputs are moved to
// the device after loading, and the same PyTorch numbers are the reference.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <string>

#include "device_suite.h"
#include "lucid/engine/autograd.h"
#include "lucid/engine/nn.h"
#include "lucid/engine/ops.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using testing::all_close;

std::map<std::string, Tensor> read_golden(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  char magic[4];
  f.read(magic, 4);
  if (std::memcmp(magic, "LGLD", 4) != 0) throw std::runtime_error("bad magic in " + path);
  auto u32 = [&] {
    std::uint32_t v = 0;
    f.read(reinterpret_cast<char*>(&v), 4);
    return v;
  };
  std::map<std::string, Tensor> out;
  const std::uint32_t count = u32();
  for (std::uint32_t i = 0; i < count; ++i) {
    std::string name(u32(), '\0');
    f.read(name.data(), static_cast<std::streamsize>(name.size()));
    std::vector<std::int64_t> dims(u32());
    f.read(reinterpret_cast<char*>(dims.data()), static_cast<std::streamsize>(dims.size() * 8));
    Tensor t = Tensor::empty(Shape(dims));
    f.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(t.numel() * 4));
    if (!f) throw std::runtime_error("truncated golden file at " + name);
    out[name] = t;
  }
  return out;
}

constexpr int kObs = 10, kAct = 3, kLatent = 16, kHidden = 32, kBins = 101, kHeads = 3;

class GoldenTdmpc2 : public testing::OnDevice {};
LUCID_INSTANTIATE_ON_DEVICES(GoldenTdmpc2);

TEST_P(GoldenTdmpc2, ForwardLossesAndEveryParameterGradientMatchPyTorch) {
  const auto g = read_golden(std::string(LUCID_GOLDEN_DIR) + "/tdmpc2_small.bin");
  using nn::Activation;
  nn::ParamArena arena;
  nn::Mlp enc(arena, "enc",
              {.in = kObs, .hidden = {kHidden}, .out = kLatent, .out_act = Activation::kSimNorm});
  nn::Mlp dyn(arena, "dyn",
              {.in = kLatent + kAct, .hidden = {kHidden}, .out = kLatent, .out_act = Activation::kSimNorm});
  nn::Mlp rew(arena, "rew",
              {.in = kLatent + kAct, .hidden = {kHidden}, .out = kBins, .out_act = std::nullopt});
  nn::Ensemble q(arena, "q", kHeads,
                 {.in = kLatent + kAct, .hidden = {kHidden, kHidden}, .out = kBins, .out_act = std::nullopt});
  arena.allocate();

  // Every lucid parameter is in the file under the same name and shape, and vice versa.
  std::size_t file_params = 0;
  for (const auto& [name, t] : g) file_params += name.rfind("param.", 0) == 0;
  ASSERT_EQ(file_params, arena.views().size());
  for (std::size_t i = 0; i < arena.views().size(); ++i) {
    const auto it = g.find("param." + arena.views()[i].name);
    ASSERT_NE(it, g.end()) << arena.views()[i].name;
    ASSERT_EQ(it->second.shape(), arena.views()[i].shape) << arena.views()[i].name;
    arena.param(i).copy_from(it->second);
  }
  arena.to(dev());

  const Tensor obs = on(g.at("input.obs")), next_obs = on(g.at("input.next_obs"));
  const Tensor action = on(g.at("input.action")), reward = on(g.at("input.reward"));
  const Tensor z = enc.forward(obs);
  Tensor next_z;
  {
    NoGrad ng;
    next_z = enc.forward(next_obs);
  }
  const Tensor za = concat({z, action}, -1);
  const Tensor z_pred = dyn.forward(za);
  const Tensor r_logits = rew.forward(za);
  const Tensor q_logits = q.forward(za);
  const Tensor cons = mse(z_pred, next_z);
  const Tensor rew_loss = mean(soft_ce(r_logits, reward));
  const Tensor q_loss =
      mean(soft_ce(reshape(q_logits, {kHeads * 8, kBins}), concat({reward, reward, reward}, 0)));
  const Tensor total = add(add(mul(cons, 20.f), mul(rew_loss, 0.1f)), mul(q_loss, 0.1f));
  backward(total);

  auto expect_close = [&](const Tensor& got_any, const std::string& name, double atol, double rtol) {
    const Tensor& ref = g.at(name);
    const Tensor got = host(got_any);
    ASSERT_EQ(got.numel(), ref.numel()) << name;
    EXPECT_TRUE(all_close(got.data(), ref.data(), ref.numel(), atol, rtol)) << name;
  };
  expect_close(z, "out.z", 1e-5, 1e-4);
  expect_close(next_z, "out.next_z", 1e-5, 1e-4);
  expect_close(z_pred, "out.z_pred", 1e-5, 1e-4);
  expect_close(r_logits, "out.reward_logits", 1e-5, 1e-4);
  expect_close(two_hot_inv(r_logits), "out.reward_value", 1e-5, 1e-4);
  expect_close(q_logits, "out.q_logits", 1e-5, 1e-4);
  expect_close(cons, "loss.consistency", 1e-7, 1e-4);
  expect_close(rew_loss, "loss.reward", 1e-6, 1e-5);
  expect_close(q_loss, "loss.value", 1e-6, 1e-5);
  expect_close(total, "loss.total", 1e-6, 1e-5);
  for (std::size_t i = 0; i < arena.views().size(); ++i) {
    const std::string& name = arena.views()[i].name;
    // Gradients are sums over the batch of products of O(1) terms: scale atol to the largest.
    const Tensor& ref = g.at("grad." + name);
    float scale = 0.f;
    for (std::int64_t k = 0; k < ref.numel(); ++k) scale = std::max(scale, std::abs(ref.data()[k]));
    expect_close(arena.param(i).grad(), "grad." + name, 1e-4 * scale + 1e-7, 1e-3);
  }
}

}  // namespace
}  // namespace lucid
