// evaluate(): whole episodes in eval mode (see evaluation.h).
#include "lucid/agents/evaluation.h"

#include <chrono>

#include "lucid/error.h"

namespace lucid::agents {

std::vector<EpisodeResult> evaluate(Agent& agent, envs::Env& env, const EvalOptions& options) {
  LUCID_CHECK(options.episodes > 0) << "evaluation needs at least one episode, got " << options.episodes;
  std::vector<EpisodeResult> results;
  for (int i = 0; i < options.episodes; ++i) {
    const bool record = i == 0 && static_cast<bool>(options.frames);
    std::vector<float> obs = env.reset(options.seed + static_cast<std::uint64_t>(i));
    agent.reset();
    if (record) options.frames(env.render(options.video_width, options.video_height));
    EpisodeResult r;
    for (;;) {
      if (options.should_stop && options.should_stop()) return results;
      const auto t0 = std::chrono::steady_clock::now();
      const std::vector<float> action = agent.act(obs, /*eval=*/true);
      r.act_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      envs::StepResult s = env.step(action);
      r.ret += s.reward;
      ++r.length;
      if (record) options.frames(env.render(options.video_width, options.video_height));
      if (s.diverged) r.diverged = true;
      if (s.terminated || s.truncated || s.diverged) break;
      obs = std::move(s.obs);
    }
    results.push_back(r);
  }
  return results;
}

}  // namespace lucid::agents
