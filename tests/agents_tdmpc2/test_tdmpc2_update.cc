// One TD-MPC2 update (1M preset, obs 5, action 2, batch 4, horizon 3) against the PyTorch golden
// file written by tools/golden/make_tdmpc2_update_golden.py: losses, TD targets, every parameter
// tensor's gradient (sum, |sum| and sampled entries, before clipping), parameters after both Adam
// steps and the target-Q EMA. Inputs, parameters and all "random" choices are closed-form
// arrays built identically on both sides.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lucid/agents/tdmpc2_agent.h"

namespace lucid::agents {
namespace {

using models::tdmpc2::ParamKind;

std::vector<float> wave(std::size_t n, double freq, double phase, double amp = 1.0, double offset = 0.0) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<float>(offset + amp * std::sin(freq * static_cast<double>(i) + phase));
  return v;
}

std::vector<float> masks(std::size_t n, std::int64_t mult, std::int64_t add, std::int64_t mod) {
  std::vector<float> v(n);
  const float keep = static_cast<float>(1.0 / (1.0 - 0.01));
  for (std::size_t i = 0; i < n; ++i)
    v[i] = (static_cast<std::int64_t>(i) * mult + add) % mod == 0 ? 0.f : keep;
  return v;
}

// The generator's WEIGHT_GAIN table.
double weight_gain(const std::string& name) {
  if (name == "encoder.0.weight" || name == "encoder.1.weight") return 6.0;
  if (name == "Qs.0.2.weight" || name == "Qs.1.2.weight") return 40.0;
  return 1.0;
}

// |got - ref| <= atol + rtol |ref|
void expect_close(double got, double ref, double atol, double rtol, const std::string& what) {
  EXPECT_LE(std::fabs(got - ref), atol + rtol * std::fabs(ref))
      << what << ": got " << got << ", expected " << ref;
}

class Tdmpc2Golden : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream f(std::string(LUCID_TDMPC2_GOLDEN_DIR) + "/tdmpc2_update_1m.json");
    ASSERT_TRUE(f.good()) << "golden file missing; run tools/golden/make_tdmpc2_update_golden.py";
    golden_ = nlohmann::json::parse(f);
  }
  nlohmann::json golden_;
};

TEST_F(Tdmpc2Golden, OneUpdateMatchesPyTorch) {
  const auto& gc = golden_["config"];
  Tdmpc2AgentConfig cfg;
  cfg.obs_dim = gc["obs_dim"];
  cfg.action_dim = gc["action_dim"];
  cfg.batch_size = gc["batch_size"];
  cfg.horizon = gc["horizon"];
  cfg.model_size = gc["model_size"];
  cfg.planner.num_samples = 32;  // acting is not under test; keep construction cheap
  cfg.planner.num_elites = 4;
  cfg.planner.num_pi_trajs = 4;
  Tdmpc2Agent agent(cfg);
  auto& m = agent.model();
  const int B = cfg.batch_size, H = cfg.horizon, A = cfg.action_dim, O = cfg.obs_dim, M = m.config().mlp_dim;
  const int NQ = m.config().num_q;
  ASSERT_EQ(NQ, 2);

  // Parameters from the same closed forms as the generator.
  const auto& entries = m.layout().layout.entries();
  ASSERT_EQ(entries.size(), golden_["grads"].size());
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const auto& e = entries[k];
    ASSERT_EQ(e.name, golden_["grads"][k]["name"].get<std::string>());
    std::vector<float> v;
    switch (e.kind) {
      case ParamKind::kWeight: {
        const double gain = weight_gain(e.name);
        v = wave(e.numel, 0.37, 1.3 * k + 0.1, gain / std::sqrt(static_cast<double>(e.shape[1])));
        break;
      }
      case ParamKind::kBias:
        v = wave(e.numel, 0.91, static_cast<double>(k), 0.05);
        break;
      case ParamKind::kNormGain:
        v = wave(e.numel, 0.53, static_cast<double>(k), 0.1, 1.0);
        break;
      default:
        v = wave(e.numel, 0.71, static_cast<double>(k), 0.05);
        break;
    }
    std::copy(v.begin(), v.end(), m.params().begin() + static_cast<std::ptrdiff_t>(e.offset));
  }
  const std::size_t q0 = m.layout().q_begin();
  const auto tw = wave(m.target_q().size(), 0.29, 0.0, 0.01);
  for (std::size_t i = 0; i < tw.size(); ++i) m.target_q()[i] = m.params()[q0 + i] + tw[i];

  Batch batch;
  batch.obs = Tensor::from(wave(static_cast<std::size_t>(H + 1) * B * O, 0.61, 0.2, 1.5), Shape{H + 1, B, O});
  batch.action = Tensor::from(wave(static_cast<std::size_t>(H) * B * A, 0.83, 0.5, 0.9), Shape{H, B, A});
  batch.reward = Tensor::from(wave(static_cast<std::size_t>(H) * B, 1.07, 0.0, 3.0, 1.0), Shape{H, B, 1});
  UpdateNoise noise;
  for (int i = 0; i < 2; ++i) {
    noise.td_heads[i] = gc["td_heads"][i];
    noise.pi_heads[i] = gc["pi_heads"][i];
  }
  noise.td_eps = wave(static_cast<std::size_t>(H) * B * A, 1.71, 0.4, 1.3);
  noise.pi_eps = wave(static_cast<std::size_t>(H + 1) * B * A, 1.37, 0.9, 1.1);
  noise.q_masks = masks(static_cast<std::size_t>(NQ) * H * B * M, 7919, 3, 97);
  noise.pi_q_masks = masks(static_cast<std::size_t>(2) * (H + 1) * B * M, 104729, 5, 89);

  const UpdateInfo info = agent.update_batch(batch, noise);

  const auto& gl = golden_["losses"];
  for (const char* key : {"consistency_loss", "reward_loss", "value_loss", "total_loss", "grad_norm",
                          "pi_loss", "pi_grad_norm", "pi_scale"})
    expect_close(info.at(key), gl[key].get<double>(), 1e-6, 5e-4, key);

  // Gradients: undo the clipping (scale 20 / (norm + 1e-6) when norm > 20) to compare raw ones.
  const double model_norm = info.at("grad_norm"), pi_norm = info.at("pi_grad_norm");
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const auto& e = entries[k];
    const auto& g = golden_["grads"][k];
    const bool is_pi = e.name.rfind("pi.", 0) == 0;
    const double norm = is_pi ? pi_norm : model_norm;
    const double unclip = norm > 20.0 ? (norm + 1e-6) / 20.0 : 1.0;
    const float* got = m.grads().data() + e.offset;
    double sum = 0, abs_sum = 0;
    for (std::size_t i = 0; i < e.numel; ++i) {
      sum += got[i] * unclip;
      abs_sum += std::fabs(got[i] * unclip);
    }
    const double ref_abs = g["abs_sum"].get<double>();
    const double mean_abs = ref_abs / static_cast<double>(e.numel);
    expect_close(abs_sum, ref_abs, 1e-9, 2e-3, e.name + " |grad| sum");
    expect_close(sum, g["sum"].get<double>(), 1e-9 + 2e-3 * ref_abs, 0.0, e.name + " grad sum");
    for (const auto& s : g["samples"]) {
      const std::size_t i = s[0];
      expect_close(got[i] * unclip, s[1].get<double>(), 1e-9 + 5e-3 * mean_abs, 5e-3,
                   e.name + " grad[" + std::to_string(i) + "]");
    }
  }

  // Parameters after both Adam steps and the target EMA.
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const auto& e = entries[k];
    for (const auto& s : golden_["params_after"][k]["samples"]) {
      const std::size_t i = s[0];
      expect_close(m.params()[e.offset + i], s[1].get<double>(), 2e-6, 1e-4, e.name + " after step");
    }
  }
  std::size_t t = 0;
  for (const auto& e : entries) {
    if (e.name.rfind("Qs.", 0) != 0) continue;
    const auto& g = golden_["target_after"][t++];
    ASSERT_EQ(g["name"].get<std::string>(), e.name);
    for (const auto& s : g["samples"]) {
      const std::size_t i = s[0];
      expect_close(m.target_q()[e.offset - q0 + i], s[1].get<double>(), 2e-6, 1e-4, e.name + " target");
    }
  }
}

}  // namespace
}  // namespace lucid::agents
