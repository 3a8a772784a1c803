// One BMPC update (1M preset, obs 5, action 2, batch 4, horizon 3) against the PyTorch golden file
// written by tools/golden/make_bmpc_update_golden.py: losses, the model-based TD targets, every
// parameter tensor's gradient (sum, |sum| and sampled entries, before clipping), parameters after
// both Adam steps and the target-V EMA. Inputs, parameters, experts and all "random" choices are
// closed-form arrays built identically on both sides.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "lucid/agents/bmpc_agent.h"

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
  if (name == "Vs.0.2.weight" || name == "Vs.1.2.weight") return 40.0;
  if (name == "reward.2.weight") return 20.0;
  if (name == "pi.2.weight") return 8.0;
  return 1.0;
}

void expect_close(double got, double ref, double atol, double rtol, const std::string& what) {
  EXPECT_LE(std::fabs(got - ref), atol + rtol * std::fabs(ref))
      << what << ": got " << got << ", expected " << ref;
}

TEST(BmpcGolden, OneUpdateMatchesPyTorch) {
  std::ifstream f(std::string(LUCID_BMPC_GOLDEN_DIR) + "/bmpc_update_1m.json");
  ASSERT_TRUE(f.good()) << "golden file missing; run tools/golden/make_bmpc_update_golden.py";
  const nlohmann::json golden = nlohmann::json::parse(f);
  const auto& gc = golden["config"];
  BmpcAgentConfig cfg;
  cfg.obs_dim = gc["obs_dim"];
  cfg.action_dim = gc["action_dim"];
  cfg.batch_size = gc["batch_size"];
  cfg.horizon = gc["horizon"];
  cfg.model_size = gc["model_size"];
  cfg.reanalyze_batch_size = 0;  // acting and reanalysis are not under test
  cfg.planner.num_samples = 32, cfg.planner.num_elites = 4, cfg.planner.num_pi_trajs = 4;
  BmpcAgent agent(cfg);
  auto& m = agent.model();
  const int B = cfg.batch_size, H = cfg.horizon, A = cfg.action_dim, O = cfg.obs_dim, M = m.config().mlp_dim;
  const int NQ = m.config().num_q;
  ASSERT_EQ(NQ, 2);

  const auto& entries = m.layout().layout.entries();
  ASSERT_EQ(entries.size(), golden["grads"].size());
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const auto& e = entries[k];
    ASSERT_EQ(e.name, golden["grads"][k]["name"].get<std::string>());
    std::vector<float> v;
    switch (e.kind) {
      case ParamKind::kWeight:
        v = wave(e.numel, 0.37, 1.3 * k + 0.1,
                 weight_gain(e.name) / std::sqrt(static_cast<double>(e.shape[1])));
        break;
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
  const std::size_t v0 = m.layout().v_begin();
  const auto tw = wave(m.target_v().size(), 0.29, 0.0, 0.01);
  for (std::size_t i = 0; i < tw.size(); ++i) m.target_v()[i] = m.params()[v0 + i] + tw[i];

  Batch batch;
  batch.obs = Tensor::from(wave(static_cast<std::size_t>(H + 1) * B * O, 0.61, 0.2, 1.5), Shape{H + 1, B, O});
  batch.action = Tensor::from(wave(static_cast<std::size_t>(H) * B * A, 0.83, 0.5, 0.9), Shape{H, B, A});
  batch.reward = Tensor::from(wave(static_cast<std::size_t>(H) * B, 1.07, 0.0, 3.0, 1.0), Shape{H, B, 1});
  BmpcUpdateNoise noise;
  noise.td_eps = wave(static_cast<std::size_t>(H) * B * A, 1.71, 0.4, 1.3);
  noise.pi_eps = wave(static_cast<std::size_t>(H + 1) * B * A, 1.37, 0.9, 1.1);
  noise.v_masks = masks(static_cast<std::size_t>(NQ) * H * B * M, 7919, 3, 97);
  // Experts, (H+1, B, 2A) rows [mean | std], from the generator's (H+1, B, A) arrays.
  const std::size_t n = static_cast<std::size_t>(H + 1) * B;
  const auto em = wave(n * A, 0.47, 0.3, 0.8), es = wave(n * A, 0.59, 1.1, 0.7, 0.9);
  std::vector<float> expert(n * 2 * A);
  for (std::size_t r = 0; r < n; ++r)
    for (int j = 0; j < A; ++j) {
      expert[r * 2 * A + j] = em[r * A + j];
      expert[r * 2 * A + A + j] = es[r * A + j];
    }

  const UpdateInfo info = agent.update_batch(batch, expert, noise, /*train_pi=*/true);

  const auto& gl = golden["losses"];
  for (const char* key : {"consistency_loss", "reward_loss", "value_loss", "total_loss", "grad_norm",
                          "pi_loss", "pi_grad_norm", "pi_scale", "pi_kl"})
    expect_close(info.at(key), gl[key].get<double>(), 1e-6, 5e-4, key);
  double td_mean = 0.0;
  for (const auto& v : golden["td_targets"]) td_mean += v.get<double>() / static_cast<double>(H * B);
  expect_close(info.at("td_target"), td_mean, 1e-6, 5e-4, "mean TD target");

  const double model_norm = info.at("grad_norm"), pi_norm = info.at("pi_grad_norm");
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const auto& e = entries[k];
    const auto& g = golden["grads"][k];
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
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const auto& e = entries[k];
    for (const auto& s : golden["params_after"][k]["samples"]) {
      const std::size_t i = s[0];
      expect_close(std::as_const(m).params()[e.offset + i], s[1].get<double>(), 2e-6, 1e-4,
                   e.name + " after step");
    }
  }
  std::size_t t = 0;
  for (const auto& e : entries) {
    if (e.name.rfind("Vs.", 0) != 0) continue;
    const auto& g = golden["target_after"][t++];
    ASSERT_EQ(g["name"].get<std::string>(), e.name);
    for (const auto& s : g["samples"]) {
      const std::size_t i = s[0];
      expect_close(std::as_const(m).target_v()[e.offset - v0 + i], s[1].get<double>(), 2e-6, 1e-4,
                   e.name + " target");
    }
  }
}

}  // namespace
}  // namespace lucid::agents
