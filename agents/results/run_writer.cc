// RunWriter: the run folder's files (see run_writer.h for the layout and the crash contract).
#include "lucid/agents/run_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "lucid/error.h"

namespace lucid::agents {

void write_file_atomic(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp" + std::to_string(::getpid());
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    LUCID_CHECK_AS(f != nullptr, IoError) << "cannot write " << tmp.string();
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 &&
                    ::fsync(::fileno(f)) == 0;
    std::fclose(f);
    if (!ok) {
      std::filesystem::remove(tmp);
      LUCID_FAIL(IoError) << "short write to " << tmp.string() << " (disk full?)";
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  LUCID_CHECK_AS(!ec, IoError) << "cannot rename " << tmp.string() << " to " << path.string() << ": "
                               << ec.message();
}

RunWriter::RunWriter(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  LUCID_CHECK_AS(!ec, IoError) << "cannot create run folder " << dir_.string() << ": " << ec.message();
}

void RunWriter::write_config(const std::string& yaml) const { write_file_atomic(dir_ / "config.yaml", yaml); }

void RunWriter::append(const std::string& file, const char* header, const std::string& row) const {
  const std::filesystem::path p = dir_ / file;
  const bool fresh = !std::filesystem::exists(p) || std::filesystem::file_size(p) == 0;
  std::FILE* f = std::fopen(p.c_str(), "ab");
  LUCID_CHECK_AS(f != nullptr, IoError) << "cannot append to " << p.string();
  if (fresh) std::fputs(header, f);
  std::fputs(row.c_str(), f);
  std::fflush(f);
  std::fclose(f);
}

namespace {
constexpr const char* kTrainHeader = "step,episode,return,length,steps_per_s,wall_time_s\n";
constexpr const char* kEvalHeader = "step,episode,return,length,wall_time_s\n";
}  // namespace

void RunWriter::log_train(std::int64_t step, std::int64_t episode, double ret, std::int64_t length,
                          double steps_per_s, double wall_time_s) const {
  char row[256];
  std::snprintf(row, sizeof row, "%lld,%lld,%.6g,%lld,%.4g,%.3f\n", static_cast<long long>(step),
                static_cast<long long>(episode), ret, static_cast<long long>(length), steps_per_s,
                wall_time_s);
  append("train.csv", kTrainHeader, row);
}

void RunWriter::log_eval(std::int64_t step, std::int64_t episode, double ret, std::int64_t length,
                         double wall_time_s) const {
  char row[256];
  std::snprintf(row, sizeof row, "%lld,%lld,%.6g,%lld,%.3f\n", static_cast<long long>(step),
                static_cast<long long>(episode), ret, static_cast<long long>(length), wall_time_s);
  append("eval.csv", kEvalHeader, row);
}

void RunWriter::write_summary(const nlohmann::json& summary) const {
  write_file_atomic(dir_ / "summary.json", summary.dump(2) + "\n");
}

nlohmann::json RunWriter::read_summary() const {
  const std::filesystem::path p = dir_ / "summary.json";
  if (!std::filesystem::exists(p)) return nlohmann::json::object();
  std::ifstream in(p);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    LUCID_FAIL(IoError) << p.string() << " is not valid JSON: " << e.what();
  }
}

void RunWriter::truncate_after(std::int64_t step) const {
  for (const char* file : {"train.csv", "eval.csv"}) {
    const std::filesystem::path p = dir_ / file;
    if (!std::filesystem::exists(p)) continue;
    std::ifstream in(p);
    std::string line, kept;
    bool header = true;
    while (std::getline(in, line)) {
      if (header || line.empty()) {
        if (header) kept += line + "\n";
        header = false;
        continue;
      }
      // A row cut short by a crash has fewer fields; it is dropped with the rest after `step`.
      const auto fields = std::count(line.begin(), line.end(), ',');
      const auto expected = std::count(kept.begin(), kept.begin() + kept.find('\n'), ',');
      if (fields == expected && std::stoll(line.substr(0, line.find(','))) <= step) kept += line + "\n";
    }
    write_file_atomic(p, kept);
  }
}

}  // namespace lucid::agents
