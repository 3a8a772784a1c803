// Run-folder reader: summary.json first, config.yaml and the folder layout as fallbacks, and the
// CSVs parsed by header name so that extra columns do not break older reports.
#include "report/run_data.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>

#include "lucid/error.h"
#include "report/files.h"

namespace lucid::report {
namespace fs = std::filesystem;
namespace {

bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  const char* b = s.data();
  const char* e = b + s.size();
  auto [p, ec] = std::from_chars(b, e, out);
  return ec == std::errc() && p == e;
}

// Columns by name -> index, from the header line.
struct Csv {
  std::map<std::string, std::size_t> col;
  std::vector<std::vector<std::string>> rows;
};

Csv read_csv(const std::string& text) {
  Csv csv;
  std::size_t start = 0;
  std::size_t width = 0;
  bool header = true;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    // A last line without '\n' may be half-written by a live trainer: it is dropped.
    if (end == std::string::npos) break;
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto fields = split(line, ',');
    if (header) {
      for (std::size_t i = 0; i < fields.size(); ++i) csv.col[fields[i]] = i;
      width = fields.size();
      header = false;
    } else if (fields.size() == width) {
      csv.rows.push_back(std::move(fields));
    }
  }
  return csv;
}

std::optional<double> field(const Csv& csv, const std::vector<std::string>& row, const char* name) {
  auto it = csv.col.find(name);
  double v = 0;
  if (it == csv.col.end() || !parse_double(row[it->second], v)) return std::nullopt;
  return v;
}

// <task>/<agent>-<planner>/seed_<k>: the suite layout, used when no file names the run yet.
void fill_from_layout(const fs::path& dir, RunData& r) {
  const std::string leaf = dir.filename().string();
  if (leaf.rfind("seed_", 0) == 0 && r.seed == 0) {
    double s = 0;
    if (parse_double(leaf.substr(5), s)) r.seed = static_cast<std::int64_t>(s);
  }
  const fs::path method_dir = dir.parent_path();
  if (r.agent.empty()) {
    const std::string m = method_dir.filename().string();
    const auto dash = m.find('-');
    if (dash != std::string::npos) {
      r.agent = m.substr(0, dash);
      if (r.planner.empty()) r.planner = m.substr(dash + 1);
    }
  }
  if (r.task.empty()) r.task = method_dir.parent_path().filename().string();
}

template <typename T>
void get_if(const nlohmann::json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) {
    try {
      out = it->get<T>();
    } catch (const nlohmann::json::exception&) {
      // A field of the wrong type is treated as absent: the report reads what it can.
    }
  }
}

void read_config(const fs::path& file, RunData& r) {
  if (!fs::exists(file)) return;
  try {
    const YAML::Node c = YAML::LoadFile(file.string());
    auto str = [&](const char* k, std::string& out) {
      if (out.empty() && c[k] && c[k].IsScalar()) out = c[k].as<std::string>();
    };
    str("task", r.task);
    str("agent", r.agent);
    str("planner", r.planner);
    if (r.seed == 0 && c["seed"] && c["seed"].IsScalar()) r.seed = c["seed"].as<std::int64_t>();
    if (r.steps == 0 && c["steps"] && c["steps"].IsScalar()) r.steps = c["steps"].as<std::int64_t>();
  } catch (const YAML::Exception&) {
    // A config being rewritten is not worth failing the whole report over.
  }
}

void read_summary(const fs::path& file, RunData& r) {
  const auto text = read_text(file);
  if (!text) return;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::exception& e) {
    LUCID_FAIL(IoError) << file.string() << " is not valid JSON: " << e.what();
  }
  get_if(j, "task", r.task);
  get_if(j, "agent", r.agent);
  get_if(j, "planner", r.planner);
  get_if(j, "seed", r.seed);
  get_if(j, "steps", r.steps);
  get_if(j, "status", r.status);
  get_if(j, "last_step", r.last_step);
  get_if(j, "steps_per_s", r.steps_per_s);
  get_if(j, "wall_time_s", r.wall_time_s);
  double fer = 0;
  if (j.contains("final_eval_return") && j["final_eval_return"].is_number()) {
    get_if(j, "final_eval_return", fer);
    r.final_eval_return = fer;
  }
}

bool is_run_dir(const fs::path& d) {
  return fs::exists(d / "summary.json") || fs::exists(d / "eval.csv") || fs::exists(d / "config.yaml");
}

}  // namespace

std::string RunData::method() const {
  std::string m = agent + "-" + planner;
  if (!test_planner.empty()) m += " / test " + test_planner;
  return m;
}

std::optional<double> RunData::final_return() const {
  if (final_eval_return) return final_eval_return;
  if (!evals.empty()) return evals.back().mean_return;
  return std::nullopt;
}

std::vector<EvalPoint> parse_eval_csv(const std::string& text) {
  const Csv csv = read_csv(text);
  std::map<std::int64_t, std::pair<double, int>> by_step;  // step -> (sum of returns, episodes)
  for (const auto& row : csv.rows) {
    const auto step = field(csv, row, "step");
    const auto ret = field(csv, row, "return");
    if (!step || !ret) continue;
    auto& acc = by_step[static_cast<std::int64_t>(*step)];
    acc.first += *ret;
    acc.second += 1;
  }
  std::vector<EvalPoint> out;
  for (const auto& [step, acc] : by_step) out.push_back({step, acc.first / acc.second, acc.second});
  return out;
}

std::vector<TrainPoint> parse_train_csv(const std::string& text) {
  const Csv csv = read_csv(text);
  std::vector<TrainPoint> out;
  for (const auto& row : csv.rows) {
    const auto step = field(csv, row, "step");
    const auto ret = field(csv, row, "return");
    if (!step || !ret) continue;
    TrainPoint p;
    p.step = static_cast<std::int64_t>(*step);
    p.episode_return = *ret;
    p.steps_per_s = field(csv, row, "steps_per_s").value_or(0.0);
    p.wall_time_s = field(csv, row, "wall_time_s").value_or(0.0);
    out.push_back(p);
  }
  return out;
}

RunData read_run(const fs::path& dir) {
  RunData r;
  r.dir = dir;
  const bool test_dir = dir.filename().string().rfind("test_", 0) == 0 && is_run_dir(dir.parent_path());
  if (test_dir) {
    // A test-time evaluation inherits the identity of the run it evaluates.
    RunData parent = read_run(dir.parent_path());
    r.task = parent.task;
    r.agent = parent.agent;
    r.planner = parent.planner;
    r.seed = parent.seed;
    r.test_planner = dir.filename().string().substr(5);
    read_summary(dir / "summary.json", r);
    // summary.json of `lucid eval` names the planner it evaluated with; keep the training one.
    r.planner = parent.planner;
  } else {
    read_summary(dir / "summary.json", r);
    read_config(dir / "config.yaml", r);
    fill_from_layout(dir, r);
  }
  if (auto t = read_text(dir / "eval.csv")) r.evals = parse_eval_csv(*t);
  if (auto t = read_text(dir / "train.csv")) r.train = parse_train_csv(*t);
  if (r.last_step == 0) {
    if (!r.train.empty()) r.last_step = r.train.back().step;
    if (!r.evals.empty()) r.last_step = std::max(r.last_step, r.evals.back().step);
  }
  if (r.steps_per_s == 0 && !r.train.empty()) r.steps_per_s = r.train.back().steps_per_s;
  return r;
}

std::vector<RunData> discover_runs(const fs::path& root) {
  LUCID_CHECK_AS(fs::is_directory(root), IoError) << root.string() << " is not a folder";
  std::vector<fs::path> dirs;
  if (is_run_dir(root)) dirs.push_back(root);
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied);
       it != fs::recursive_directory_iterator(); ++it) {
    if (!it->is_directory()) continue;
    const std::string name = it->path().filename().string();
    if (name == "checkpoints" || name == "report") {
      it.disable_recursion_pending();  // large and never a run
      continue;
    }
    if (is_run_dir(it->path())) dirs.push_back(it->path());
  }
  std::vector<RunData> runs;
  for (const auto& d : dirs) runs.push_back(read_run(d));
  std::sort(runs.begin(), runs.end(), [](const RunData& a, const RunData& b) {
    if (a.task != b.task) return a.task < b.task;
    if (a.method() != b.method()) return a.method() < b.method();
    return a.seed < b.seed;
  });
  return runs;
}

}  // namespace lucid::report
