// RunWriter — the files of one run folder, written so that nothing is lost on a crash.
//
//   <run>/config.yaml   the resolved configuration (written once)
//   <run>/train.csv     step,episode,return,length,steps_per_s,wall_time_s   (one row per episode)
//   <run>/eval.csv      step,episode,return,length,wall_time_s               (one row per eval episode)
//   <run>/summary.json  task, agent, planner, seed, model_size, steps, status, last_step,
//                       final_eval_return, wall_time_s, steps_per_s
//   <run>/checkpoints/  the trainer's checkpoints
//
// CSV rows are appended and flushed one by one; config.yaml and summary.json are written to a
// temporary file and renamed. On resume, truncate_after(step) drops rows logged after the
// checkpoint being resumed from, because the resumed run logs them again (bit-identically).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace lucid::agents {

// Writes `text` to `path` through a temporary file in the same folder and a rename.
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

class RunWriter {
 public:
  explicit RunWriter(std::filesystem::path dir);

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path checkpoint_dir() const { return dir_ / "checkpoints"; }

  void write_config(const std::string& yaml) const;
  void log_train(std::int64_t step, std::int64_t episode, double ret, std::int64_t length, double steps_per_s,
                 double wall_time_s) const;
  void log_eval(std::int64_t step, std::int64_t episode, double ret, std::int64_t length,
                double wall_time_s) const;
  void write_summary(const nlohmann::json& summary) const;
  nlohmann::json read_summary() const;  // {} when there is none
  // Keeps only CSV rows whose step is <= step.
  void truncate_after(std::int64_t step) const;

 private:
  void append(const std::string& file, const char* header, const std::string& row) const;
  std::filesystem::path dir_;
};

}  // namespace lucid::agents
