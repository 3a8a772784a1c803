// `lucid eval`: runs an agent for whole episodes in eval mode and prints the returns — a table by
// default, one JSON object with format=json. video=true records the first episode as an mp4
// (through ffmpeg) or, without ffmpeg, as PNG frames, under <out_dir>/videos/.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "cli/commands.h"
#include "cli/run_setup.h"
#include "lucid/agents/evaluation.h"
#include "lucid/agents/run_checkpoint.h"
#include "lucid/agents/run_writer.h"
#include "lucid/envs/png.h"
#include "lucid/envs/registry.h"
#include "lucid/error.h"

namespace lucid::cli {
namespace {

// Streams RGB frames into ffmpeg's stdin; falls back to numbered PNGs when ffmpeg is absent.
class VideoWriter {
 public:
  VideoWriter(std::filesystem::path stem, int fps) : stem_(std::move(stem)), fps_(fps) {
    std::filesystem::create_directories(stem_.parent_path());
  }
  ~VideoWriter() { close(); }

  void add(const envs::Image& frame) {
    if (!started_) start(frame);
    if (pipe_) {
      std::fwrite(frame.rgb.data(), 1, frame.rgb.size(), pipe_);
    } else {
      char name[32];
      std::snprintf(name, sizeof name, "%05d.png", frames_);
      envs::write_png(stem_ / name, frame);
    }
    ++frames_;
  }
  // What was written, for the report line.
  std::string close() {
    if (pipe_) {
      const int rc = pclose(pipe_);
      pipe_ = nullptr;
      LUCID_CHECK_AS(rc == 0, IoError) << "ffmpeg failed writing " << mp4().string();
    }
    if (!started_) return "";
    return used_ffmpeg_ ? mp4().string()
                        : (stem_.string() + "/ (" + std::to_string(frames_) + " PNG frames)");
  }

 private:
  std::filesystem::path mp4() const { return stem_.string() + ".mp4"; }
  void start(const envs::Image& f) {
    started_ = true;
    if (std::system("command -v ffmpeg >/dev/null 2>&1") == 0) {
      const std::string cmd = "ffmpeg -loglevel error -y -f rawvideo -pix_fmt rgb24 -s " +
                              std::to_string(f.width) + "x" + std::to_string(f.height) + " -r " +
                              std::to_string(fps_) + " -i - -pix_fmt yuv420p -vcodec libx264 '" +
                              mp4().string() + "'";
      pipe_ = popen(cmd.c_str(), "w");
      used_ffmpeg_ = pipe_ != nullptr;
    }
    if (!pipe_) std::filesystem::create_directories(stem_);
  }

  std::filesystem::path stem_;
  int fps_;
  std::FILE* pipe_ = nullptr;
  bool started_ = false, used_ffmpeg_ = false;
  int frames_ = 0;
};

// Evaluating a trained run: its config.yaml says what was trained (task, agent, model size);
// keys the user set explicitly (planner=dream-mpc, episodes=10, ...) win over it.
Config with_run_config(const Config& user, std::filesystem::path* checkpoint) {
  const std::string run_dir = user.get_string("run_dir"), ckpt = user.get_string("checkpoint");
  if (run_dir.empty() && ckpt.empty()) return user;
  *checkpoint = ckpt.empty() ? std::filesystem::path(run_dir) / "checkpoints" / "latest.safetensors"
                             : std::filesystem::path(ckpt);
  const std::filesystem::path run =
      run_dir.empty() ? checkpoint->parent_path().parent_path() : std::filesystem::path(run_dir);
  const Config defaults = Config::defaults();
  Config c = defaults;
  if (std::filesystem::exists(run / "config.yaml")) {
    c.merge_file(run / "config.yaml");
    read_legacy_architecture_as_preset(c);
    c.unset_defaults(defaults);  // keys left at their defaults were not chosen by the trainer's user
  }
  for (const std::string& key : user.keys())
    if (user.is_set(key)) c.set(key, user.value_text(key));
  return c;
}

}  // namespace

int cmd_eval(const Config& user_config) {
  std::filesystem::path checkpoint;
  const Config config = with_run_config(user_config, &checkpoint);
  prepare_runtime(config);
  const std::string task = config.get_string("task");
  const std::string format = config.get_string("format");
  LUCID_CHECK_AS(format == "table" || format == "json", ConfigError)
      << "format must be table or json, got '" << format << "'";
  const auto seed = static_cast<std::uint64_t>(config.get_int("seed"));

  envs::EnvOptions env_options;
  env_options.seed = seed;
  env_options.action_repeat = static_cast<int>(config.get_int("action_repeat"));
  env_options.max_episode_steps = static_cast<int>(config.get_int("episode_length"));
  env_options.dmc_xml_dir = config.get_string("dmc_xml");
  std::unique_ptr<envs::Env> env = envs::make_env(task, env_options);
  std::unique_ptr<agents::Agent> agent = make_agent(config, env->observation_dim(), env->action_dim());
  std::int64_t trained_steps = 0;
  if (!checkpoint.empty()) {
    const agents::RunCheckpoint ck = agents::read_run_checkpoint(checkpoint);
    LUCID_CHECK_AS(ck.agent_name == agent->name(), ConfigError)
        << checkpoint.string() << " holds a '" << ck.agent_name << "' agent, not '" << agent->name() << "'";
    agent->load_state(ck.agent);
    if (auto it = ck.trainer.find("step"); it != ck.trainer.end()) trained_steps = std::stoll(it->second);
  }

  agents::EvalOptions eo;
  eo.episodes = static_cast<int>(config.get_int("episodes"));
  eo.seed = seed * 1000u;
  std::unique_ptr<VideoWriter> video;
  if (config.get_bool("video") || config.get_bool("save_video")) {
    const std::string stem = task + "-" + agent->name() + "-seed" + std::to_string(seed);
    // TD-MPC2's videos play at 15 fps per agent step pair; lucid records every agent step.
    video = std::make_unique<VideoWriter>(
        std::filesystem::path(config.get_string("out_dir")) / "videos" / stem, 25);
    eo.frames = [&](const envs::Image& frame) { video->add(frame); };
  }
  const auto results = agents::evaluate(*agent, *env, eo);
  const std::string video_path = video ? video->close() : "";

  std::vector<double> returns;
  double act_seconds = 0;
  std::int64_t acts = 0;
  for (const auto& r : results) returns.push_back(r.ret), act_seconds += r.act_seconds, acts += r.length;
  const double ms_per_act = acts > 0 ? 1e3 * act_seconds / static_cast<double>(acts) : 0.0;
  const double mean =
      std::accumulate(returns.begin(), returns.end(), 0.0) / static_cast<double>(returns.size());
  double var = 0;
  for (double r : returns) var += (r - mean) * (r - mean);
  const double std_dev = std::sqrt(var / static_cast<double>(returns.size()));

  const std::string planner = agent->name() == "random" ? "-" : config.get_string("planner");
  if (const std::string eval_dir = config.get_string("eval_dir"); !eval_dir.empty()) {
    agents::RunWriter out(eval_dir);
    out.truncate_after(-1);  // an evaluation is redone whole
    for (std::size_t i = 0; i < results.size(); ++i)
      out.log_eval(trained_steps, static_cast<std::int64_t>(i), results[i].ret, results[i].length, 0.0);
    out.write_summary({{"task", task},
                       {"agent", agent->name()},
                       {"planner", planner},
                       {"seed", seed},
                       {"model_size", config.get_int("model_size")},
                       {"steps", trained_steps},
                       {"last_step", trained_steps},
                       {"status", "finished"},
                       {"final_eval_return", mean},
                       {"checkpoint", checkpoint.string()}});
  }

  if (format == "json") {
    nlohmann::json j = {{"task", task}, {"agent", agent->name()},  {"planner", planner},
                        {"seed", seed}, {"episodes", eo.episodes}, {"returns", returns},
                        {"mean", mean}, {"std", std_dev}};
    std::vector<std::int64_t> lengths;
    bool diverged = false;
    for (const auto& r : results) lengths.push_back(r.length), diverged = diverged || r.diverged;
    j["lengths"] = lengths;
    j["ms_per_act"] = ms_per_act;
    j["diverged"] = diverged;
    if (!video_path.empty()) j["video"] = video_path;
    std::cout << j.dump() << "\n";
  } else {
    std::printf("%-24s %-8s %-10s %6s  %-36s %s\n", "task", "agent", "planner", "seed",
                "return (mean ± std over episodes)", "ms/act");
    char ret[64];
    std::snprintf(ret, sizeof ret, "%.1f ± %.1f  (%d episodes)", mean, std_dev, eo.episodes);
    std::printf("%-24s %-8s %-10s %6llu  %-36s %.3f\n", task.c_str(), agent->name().c_str(), planner.c_str(),
                static_cast<unsigned long long>(seed), ret, ms_per_act);
    for (std::size_t i = 0; i < results.size(); ++i)
      std::printf("  episode %2zu: return %8.2f  length %lld%s\n", i, results[i].ret,
                  static_cast<long long>(results[i].length),
                  results[i].diverged ? "  (physics diverged)" : "");
    if (!video_path.empty()) std::printf("video: %s\n", video_path.c_str());
  }
  return 0;
}

}  // namespace lucid::cli
