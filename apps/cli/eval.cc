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

}  // namespace

int cmd_eval(const Config& config) {
  set_threads(config);
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
  for (const auto& r : results) returns.push_back(r.ret);
  const double mean =
      std::accumulate(returns.begin(), returns.end(), 0.0) / static_cast<double>(returns.size());
  double var = 0;
  for (double r : returns) var += (r - mean) * (r - mean);
  const double std_dev = std::sqrt(var / static_cast<double>(returns.size()));

  if (format == "json") {
    nlohmann::json j = {
        {"task", task},       {"agent", agent->name()}, {"seed", seed},  {"episodes", eo.episodes},
        {"returns", returns}, {"mean", mean},           {"std", std_dev}};
    std::vector<std::int64_t> lengths;
    bool diverged = false;
    for (const auto& r : results) lengths.push_back(r.length), diverged = diverged || r.diverged;
    j["lengths"] = lengths;
    j["diverged"] = diverged;
    if (!video_path.empty()) j["video"] = video_path;
    std::cout << j.dump() << "\n";
  } else {
    std::printf("%-24s %-8s %6s  %s\n", "task", "agent", "seed", "return (mean ± std over episodes)");
    std::printf("%-24s %-8s %6llu  %.1f ± %.1f  (%d episodes)\n", task.c_str(), agent->name().c_str(),
                static_cast<unsigned long long>(seed), mean, std_dev, eo.episodes);
    for (std::size_t i = 0; i < results.size(); ++i)
      std::printf("  episode %2zu: return %8.2f  length %lld%s\n", i, results[i].ret,
                  static_cast<long long>(results[i].length),
                  results[i].diverged ? "  (physics diverged)" : "");
    if (!video_path.empty()) std::printf("video: %s\n", video_path.c_str());
  }
  return 0;
}

}  // namespace lucid::cli
