// Two multitask TD-MPC2 updates (1M preset, 3 tasks, obs 5, action 3 with task 1 padded to 2
// dims, batch 4, horizon 2) against the PyTorch golden file written by
// tools/golden/make_tdmpc2_multitask_golden.py: losses and TD targets (per-task discounts) of both
// updates; the second update's gradients before clipping, whose embedding part includes what the
// first policy loss left there (torch's optimizers clear only their own parameters); the policy
// loss's embedding gradient left after each update; parameters, embedding table (one row is
// renormalised by the max_norm lookup) and target Q after both updates. Inputs are the closed-form
// arrays of the single-task golden test (test_tdmpc2_update.cc), built identically on both sides.
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

double weight_gain(const std::string& name) {
  if (name == "encoder.0.weight" || name == "encoder.1.weight") return 6.0;
  if (name == "Qs.0.2.weight" || name == "Qs.1.2.weight") return 40.0;
  return 1.0;
}

void expect_close(double got, double ref, double atol, double rtol, const std::string& what) {
  EXPECT_LE(std::fabs(got - ref), atol + rtol * std::fabs(ref))
      << what << ": got " << got << ", expected " << ref;
}

class Tdmpc2MultitaskGolden : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream f(std::string(LUCID_TDMPC2_GOLDEN_DIR) + "/tdmpc2_multitask_1m.json");
    ASSERT_TRUE(f.good()) << "golden file missing; run tools/golden/make_tdmpc2_multitask_golden.py";
    golden_ = nlohmann::json::parse(f);
    const auto& gc = golden_["config"];
    cfg_.obs_dim = gc["obs_dim"];
    cfg_.action_dim = gc["action_dim"];
    cfg_.batch_size = gc["batch_size"];
    cfg_.horizon = gc["horizon"];
    cfg_.model_size = gc["model_size"];
    cfg_.num_tasks = gc["num_tasks"];
    cfg_.task_action_dims = gc["task_action_dims"].get<std::vector<int>>();
    cfg_.task_episode_lengths = gc["task_episode_lengths"].get<std::vector<int>>();
    cfg_.planner.num_samples = 32;  // acting is not under test; keep construction cheap
    cfg_.planner.num_elites = 4;
    cfg_.planner.num_pi_trajs = 4;
  }

  // The generator's parameters, target copy, batch and random choices.
  void prepare(Tdmpc2Agent& agent) {
    auto& m = agent.model();
    const auto& entries = m.layout().layout.entries();
    ASSERT_EQ(entries.size(), golden_["params_after"].size());
    const int td = m.config().task_dim;
    for (std::size_t k = 0; k < entries.size(); ++k) {
      const auto& e = entries[k];
      ASSERT_EQ(e.name, golden_["params_after"][k]["name"].get<std::string>());
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
        case ParamKind::kNormBias:
          v = wave(e.numel, 0.71, static_cast<double>(k), 0.05);
          break;
        case ParamKind::kEmbedding:
          for (int t = 0; t < cfg_.num_tasks; ++t) {
            const auto row = wave(td, 0.43, 0.3 + t, golden_["config"]["emb_amp"][t].get<double>());
            v.insert(v.end(), row.begin(), row.end());
          }
          break;
      }
      std::copy(v.begin(), v.end(), m.params().begin() + static_cast<std::ptrdiff_t>(e.offset));
    }
    const std::size_t q0 = m.layout().q_begin();
    const auto tw = wave(m.target_q().size(), 0.29, 0.0, 0.01);
    for (std::size_t i = 0; i < tw.size(); ++i) m.target_q()[i] = m.params()[q0 + i] + tw[i];

    const int B = cfg_.batch_size, H = cfg_.horizon, A = cfg_.action_dim, O = cfg_.obs_dim;
    const int M = m.config().mlp_dim, NQ = m.config().num_q;
    batch_.obs =
        Tensor::from(wave(static_cast<std::size_t>(H + 1) * B * O, 0.61, 0.2, 1.5), Shape{H + 1, B, O});
    batch_.action = Tensor::from(wave(static_cast<std::size_t>(H) * B * A, 0.83, 0.5, 0.9), Shape{H, B, A});
    batch_.reward = Tensor::from(wave(static_cast<std::size_t>(H) * B, 1.07, 0.0, 3.0, 1.0), Shape{H, B, 1});
    for (int i = 0; i < 2; ++i) {
      noise_.td_heads[i] = golden_["config"]["td_heads"][i];
      noise_.pi_heads[i] = golden_["config"]["pi_heads"][i];
    }
    noise_.td_eps = wave(static_cast<std::size_t>(H) * B * A, 1.71, 0.4, 1.3);
    noise_.pi_eps = wave(static_cast<std::size_t>(H + 1) * B * A, 1.37, 0.9, 1.1);
    noise_.q_masks = masks(static_cast<std::size_t>(NQ) * H * B * M, 7919, 3, 97);
    noise_.pi_q_masks = masks(static_cast<std::size_t>(2) * (H + 1) * B * M, 104729, 5, 89);
  }

  std::vector<int> tasks(int update) const {
    return golden_["updates"][update]["tasks"].get<std::vector<int>>();
  }

  void expect_losses(const UpdateInfo& info, int update) {
    const auto& gl = golden_["updates"][update]["losses"];
    for (const char* key : {"consistency_loss", "reward_loss", "value_loss", "total_loss", "grad_norm",
                            "pi_grad_norm", "pi_scale"})
      expect_close(info.at(key), gl[key].get<double>(), 1e-6, 5e-4,
                   std::string(key) + " of update " + std::to_string(update));
    // The policy loss reads Q heads right after Adam's first step, which moves weights whose
    // gradient is near Adam's eps by up to lr: float rounding of such tiny gradients shows here
    // (measured: 1.9e-3 relative on update 0; the reference itself moves by 1.1e-2 when its Adam
    // eps goes from 1e-8 to 1e-9). Its gradients and entropy match tightly.
    expect_close(info.at("pi_loss"), gl["pi_loss"].get<double>(), 1e-6, 3e-3,
                 "pi_loss of update " + std::to_string(update));
  }

  void expect_carry(Tdmpc2Agent& agent, int update) {
    const auto& ref = golden_["updates"][update]["task_emb_carry"];
    const float* got = agent.model().grads().data() + agent.model().layout().task_emb;
    double ref_abs = 0;
    for (const auto& v : ref) ref_abs += std::fabs(v.get<double>());
    ASSERT_GT(ref_abs, 0.0);
    const double mean_abs = ref_abs / static_cast<double>(ref.size());
    for (std::size_t i = 0; i < ref.size(); ++i)
      expect_close(got[i], ref[i].get<double>(), 1e-9 + 5e-3 * mean_abs, 5e-3,
                   "task_emb carry[" + std::to_string(i) + "] after update " + std::to_string(update));
  }

  nlohmann::json golden_;
  Tdmpc2AgentConfig cfg_;
  Batch batch_;
  UpdateNoise noise_;
};

TEST_F(Tdmpc2MultitaskGolden, TwoUpdatesMatchPyTorch) {
  Tdmpc2Agent agent(cfg_);
  prepare(agent);
  auto& m = agent.model();
  for (int u = 0; u < 2; ++u) {
    const std::vector<int> t = tasks(u);
    const UpdateInfo info = agent.update_batch(batch_, noise_, t);
    expect_losses(info, u);
    const auto& td = golden_["updates"][u]["td_targets"];
    ASSERT_EQ(td.size(), agent.td_targets().size());
    for (std::size_t i = 0; i < td.size(); ++i)
      expect_close(agent.td_targets()[i], td[i].get<double>(), 1e-5, 1e-4, "td[" + std::to_string(i) + "]");
    expect_carry(agent, u);
  }
  const auto& entries = m.layout().layout.entries();
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const auto& e = entries[k];
    for (const auto& s : golden_["params_after"][k]["samples"]) {
      const std::size_t i = s[0];
      expect_close(m.params()[e.offset + i], s[1].get<double>(), 2e-6, 1e-4, e.name + " after two updates");
    }
  }
  const auto& emb = golden_["task_emb_after"];
  for (std::size_t i = 0; i < emb.size(); ++i)
    expect_close(m.params()[m.layout().task_emb + i], emb[i].get<double>(), 2e-6, 1e-4,
                 "task_emb[" + std::to_string(i) + "] after two updates");
  const std::size_t q0 = m.layout().q_begin();
  std::size_t t = 0;
  for (const auto& e : entries) {
    if (e.name.rfind("Qs.", 0) != 0) continue;
    const auto& g = golden_["target_after"][t++];
    for (const auto& s : g["samples"]) {
      const std::size_t i = s[0];
      expect_close(m.target_q()[e.offset - q0 + i], s[1].get<double>(), 2e-6, 1e-4, e.name + " target");
    }
  }
}

// The second update's raw gradients: the model loss's (its embedding part on top of what the
// first policy loss left) and the policy loss's.
TEST_F(Tdmpc2MultitaskGolden, SecondUpdateGradientsMatchPyTorch) {
  Tdmpc2Agent agent(cfg_);
  prepare(agent);
  agent.update_batch(batch_, noise_, tasks(0));
  auto& m = agent.model();
  const std::vector<int> t1 = tasks(1);
  agent.compute_targets(batch_, noise_, t1);
  agent.model_loss_backward(batch_, noise_);
  const auto check = [&](const nlohmann::json& ref, const std::string& what) {
    for (const auto& e : m.layout().layout.entries()) {
      if (!ref.contains(e.name)) continue;
      const auto& g = ref[e.name];
      const float* got = m.grads().data() + e.offset;
      double sum = 0, abs_sum = 0;
      for (std::size_t i = 0; i < e.numel; ++i) {
        sum += got[i];
        abs_sum += std::fabs(got[i]);
      }
      const double ref_abs = g["abs_sum"].get<double>();
      const double mean_abs = ref_abs / static_cast<double>(e.numel);
      expect_close(abs_sum, ref_abs, 1e-9, 2e-3, what + " " + e.name + " |grad| sum");
      expect_close(sum, g["sum"].get<double>(), 1e-9 + 2e-3 * ref_abs, 0.0,
                   what + " " + e.name + " grad sum");
      for (const auto& s : g["samples"]) {
        const std::size_t i = s[0];
        expect_close(got[i], s[1].get<double>(), 1e-9 + 5e-3 * mean_abs, 5e-3,
                     what + " " + e.name + " grad[" + std::to_string(i) + "]");
      }
    }
  };
  const auto& ref = golden_["updates"][1];
  ASSERT_TRUE(ref["model_grads"].contains("task_emb.weight"));
  check(ref["model_grads"], "model loss");
  // The policy loss on the latents of this model loss, after the model step: run it through the
  // normal path on a second agent and compare pi's gradients (before clipping) there.
  Tdmpc2Agent b(cfg_);
  prepare(b);
  b.update_batch(batch_, noise_, tasks(0));
  const UpdateInfo info = b.update_batch(batch_, noise_, t1);
  const double norm = info.at("pi_grad_norm");
  const double unclip = norm > 20.0 ? (norm + 1e-6) / 20.0 : 1.0;
  auto& bm = b.model();
  for (float& g : bm.grads().subspan(bm.layout().pi.begin(), bm.layout().pi.size()))
    g *= static_cast<float>(unclip);
  const auto& pig = ref["pi_grads"];
  for (const auto& e : bm.layout().layout.entries()) {
    if (!pig.contains(e.name)) continue;
    const float* got = bm.grads().data() + e.offset;
    double abs_sum = 0;
    for (std::size_t i = 0; i < e.numel; ++i) abs_sum += std::fabs(got[i]);
    expect_close(abs_sum, pig[e.name]["abs_sum"].get<double>(), 1e-9, 2e-3,
                 "pi loss " + e.name + " |grad| sum");
  }
}

}  // namespace
}  // namespace lucid::agents
