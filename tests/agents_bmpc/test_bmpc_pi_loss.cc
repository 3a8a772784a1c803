// BMPC's policy loss (KL to the expert / running scale - 1e-4 scaled entropy, rho-weighted) and its
// gradient with respect to the policy head's outputs, against PyTorch autograd
// (tools/golden/make_bmpc_pi_loss_golden.py), and the KL's zero at the expert.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "lucid/agents/bmpc_agent.h"
#include "lucid_test.h"

namespace lucid::agents {
namespace {

std::vector<float> floats(const nlohmann::json& j) { return j.get<std::vector<float>>(); }

TEST(BmpcPiLoss, MatchesPytorchGolden) {
  std::ifstream f(std::string(LUCID_BMPC_GOLDEN_DIR) + "/bmpc_pi_loss.json");
  ASSERT_TRUE(f.good()) << "golden file missing; run tools/golden/make_bmpc_pi_loss_golden.py";
  const nlohmann::json g = nlohmann::json::parse(f);
  const auto& c = g["config"];
  const int steps = c["steps"], B = c["batch"], A = c["action_dim"];
  const std::vector<float> out = floats(g["out"]), eps = floats(g["eps"]), expert = floats(g["expert"]);
  const std::vector<float> ref = floats(g["dout"]);
  std::vector<float> dout(out.size(), 123.f), scratch(B);
  float scale = c["scale_in"].get<float>();
  const BmpcPiLoss r =
      bmpc_pi_loss(out.data(), eps.data(), expert.data(), steps, B, A, c["log_std_min"], c["log_std_max"],
                   c["rho"], c["entropy_coef"], c["tau"], scale, dout.data(), scratch);
  EXPECT_NEAR(scale, g["scale_out"].get<float>(), 1e-5f);
  EXPECT_NEAR(r.loss, g["loss"].get<float>(), 1e-5f * (1.f + std::abs(g["loss"].get<float>())));
  EXPECT_NEAR(r.kl, g["kl_mean"].get<float>(), 1e-4f);
  EXPECT_NEAR(r.entropy, g["entropy_mean"].get<float>(), 1e-4f);
  double max_ref = 0.0;
  for (float v : ref) max_ref = std::max(max_ref, std::abs(static_cast<double>(v)));
  EXPECT_TRUE(lucid::testing::all_close(dout.data(), ref.data(), ref.size(), 1e-6 * max_ref + 1e-9, 1e-4));
}

TEST(BmpcPiLoss, KlVanishesAtTheExpert) {
  // A policy whose Gaussian equals the expert's has KL 0 and no KL gradient.
  const int A = 2, B = 2, steps = 1;
  const float lmin = -3.f, lmax = 1.f;
  std::vector<float> out = {0.3f, -0.2f, 0.5f, -1.f, -0.4f, 0.1f, 0.f, 0.7f};
  std::vector<float> expert(out.size()), eps(B * A, 0.f), dout(out.size()), scratch(B);
  for (int r = 0; r < B; ++r)
    for (int j = 0; j < A; ++j) {
      expert[r * 2 * A + j] = std::tanh(out[r * 2 * A + j]);
      const float ls = lmin + 0.5f * (lmax - lmin) * (std::tanh(out[r * 2 * A + A + j]) + 1.f);
      expert[r * 2 * A + A + j] = std::exp(ls);
    }
  float scale = 1.f;
  const BmpcPiLoss res = bmpc_pi_loss(out.data(), eps.data(), expert.data(), steps, B, A, lmin, lmax, 0.5f,
                                      /*entropy_coef=*/0.f, 0.01f, scale, dout.data(), scratch);
  EXPECT_NEAR(res.kl, 0.f, 1e-6f);
  for (float d : dout) EXPECT_NEAR(d, 0.f, 1e-6f);
}

}  // namespace
}  // namespace lucid::agents
