// Suite file reading and validation. Every error names where the bad value came from: the file
// and line (yaml-cpp marks, 0-based, printed 1-based) or the command-line override that set it.
#include "suite/suite_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <thread>

#include "lucid/error.h"
#include "report/files.h"

namespace lucid::suite {
namespace fs = std::filesystem;
namespace {

const char* const kKeys[] = {"name",    "tasks", "agents",    "planners",      "eval_planners",
                             "seeds",   "steps", "eval_freq", "eval_episodes", "model_size",
                             "out_dir", "jobs",  "train_args"};
// Keys every run gets from the suite itself; train_args may not set them behind its back.
const char* const kRunKeys[] = {"task",      "agent",         "planner",    "seed",   "steps",
                                "eval_freq", "eval_episodes", "model_size", "run_dir"};
const std::int64_t kModelSizes[] = {1, 5, 19, 48, 317};

bool known_key(const std::string& k) {
  return std::any_of(std::begin(kKeys), std::end(kKeys), [&](const char* s) { return k == s; });
}

std::string known_keys() {
  std::string s;
  for (const char* k : kKeys) s += (s.empty() ? "" : ", ") + std::string(k);
  return s;
}

// Where a key's value came from, for error messages.
class Where {
 public:
  Where(std::string origin, std::map<std::string, std::string> overrides)
      : origin_(std::move(origin)), overrides_(std::move(overrides)) {}
  std::string operator()(const std::string& key, const YAML::Node& node) const {
    auto it = overrides_.find(key);
    if (it != overrides_.end()) return "override '" + it->second + "'";
    const YAML::Mark m = node.Mark();
    if (m.line < 0) return origin_;
    return origin_ + ":" + std::to_string(m.line + 1);
  }

 private:
  std::string origin_;
  std::map<std::string, std::string> overrides_;
};

std::string show(const YAML::Node& n) {
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a map";
  return "nothing";
}

std::int64_t get_int(const YAML::Node& n, const std::string& key, const Where& where, std::int64_t min) {
  std::int64_t v = 0;
  bool ok = n.IsScalar();
  if (ok) {
    try {
      v = n.as<std::int64_t>();
    } catch (const YAML::Exception&) {
      ok = false;
    }
  }
  LUCID_CHECK_AS(ok, ConfigError) << where(key, n) << ": key '" << key << "': expected an integer, got "
                                  << show(n);
  LUCID_CHECK_AS(v >= min, ConfigError)
      << where(key, n) << ": key '" << key << "': must be >= " << min << ", got " << v;
  return v;
}

std::string get_string(const YAML::Node& n, const std::string& key, const Where& where) {
  LUCID_CHECK_AS(n.IsScalar() && !n.Scalar().empty(), ConfigError)
      << where(key, n) << ": key '" << key << "': expected a non-empty string, got " << show(n);
  return n.Scalar();
}

// A list of names used in folder names: a YAML list, or one scalar (commas split it, so that
// `tasks=a,b` works on the command line).
std::vector<std::string> get_names(const YAML::Node& n, const std::string& key, const Where& where,
                                   bool allow_empty) {
  std::vector<std::string> out;
  if (n.IsScalar()) {
    for (auto& s : report::split(n.Scalar(), ','))
      if (!s.empty()) out.push_back(s);
  } else if (n.IsSequence()) {
    for (const auto& e : n) {
      LUCID_CHECK_AS(e.IsScalar() && !e.Scalar().empty(), ConfigError)
          << where(key, e) << ": key '" << key << "': every entry must be a name, got " << show(e);
      out.push_back(e.Scalar());
    }
  } else if (!n.IsNull()) {
    LUCID_FAIL(ConfigError) << where(key, n) << ": key '" << key << "': expected a list of names, got "
                            << show(n);
  }
  LUCID_CHECK_AS(allow_empty || !out.empty(), ConfigError)
      << where(key, n) << ": key '" << key << "': list is empty";
  std::set<std::string> seen;
  for (const auto& s : out) {
    LUCID_CHECK_AS(s.find_first_of("/\\ \t") == std::string::npos && s != "." && s != "..", ConfigError)
        << where(key, n) << ": key '" << key << "': '" << s << "' cannot name a folder";
    LUCID_CHECK_AS(seen.insert(s).second, ConfigError)
        << where(key, n) << ": key '" << key << "': '" << s << "' is listed twice";
  }
  return out;
}

std::vector<std::int64_t> get_seeds(const YAML::Node& n, const Where& where) {
  std::vector<std::int64_t> out;
  if (n.IsScalar()) {  // a count
    const std::int64_t count = get_int(n, "seeds", where, 1);
    for (std::int64_t s = 1; s <= count; ++s) out.push_back(s);
    return out;
  }
  LUCID_CHECK_AS(n.IsSequence() && n.size() > 0, ConfigError)
      << where("seeds", n) << ": key 'seeds': expected a list of integers or a count, got " << show(n);
  std::set<std::int64_t> seen;
  for (const auto& e : n) {
    const std::int64_t s = get_int(e, "seeds", where, 0);
    LUCID_CHECK_AS(seen.insert(s).second, ConfigError)
        << where("seeds", e) << ": key 'seeds': seed " << s << " is listed twice";
    out.push_back(s);
  }
  return out;
}

}  // namespace

int SuiteConfig::parallel_jobs() const {
  if (jobs > 0) return jobs;
  const unsigned hw = std::thread::hardware_concurrency();
  return std::max(1, static_cast<int>(hw / 2));
}

SuiteConfig parse_suite(const std::string& yaml_text, const std::string& origin,
                        const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    LUCID_FAIL(ConfigError) << origin << ":" << e.mark.line + 1 << ":" << e.mark.column + 1
                            << ": not valid YAML: " << e.msg;
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  LUCID_CHECK_AS(root.IsMap(), ConfigError)
      << origin << ": a suite file is a map of keys, got " << show(root);

  // Every key of the file must be known; report the first unknown one with its line.
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string key = it->first.Scalar();
    LUCID_CHECK_AS(known_key(key), ConfigError)
        << origin << ":" << it->first.Mark().line + 1 << ": unknown key '" << key
        << "' (known keys: " << known_keys() << ")";
  }

  // key=value overrides, applied to the parsed tree so they go through the same validation.
  std::map<std::string, std::string> override_text;
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    LUCID_CHECK_AS(eq != std::string::npos && eq > 0, ConfigError)
        << "override '" << o << "': expected key=value";
    const std::string key = o.substr(0, eq), value = o.substr(eq + 1);
    YAML::Node v;
    try {
      v = YAML::Load(value);
    } catch (const YAML::ParserException& e) {
      LUCID_FAIL(ConfigError) << "override '" << o << "': value is not valid YAML: " << e.msg;
    }
    const auto dot = key.find('.');
    if (dot != std::string::npos) {
      const std::string parent = key.substr(0, dot), sub = key.substr(dot + 1);
      LUCID_CHECK_AS(parent == "train_args" && !sub.empty(), ConfigError)
          << "override '" << o << "': only train_args.<key> takes a dotted key";
      if (!root["train_args"] || !root["train_args"].IsMap())
        root["train_args"] = YAML::Node(YAML::NodeType::Map);
      root["train_args"][sub] = v;
      override_text["train_args"] = o;
    } else {
      LUCID_CHECK_AS(known_key(key), ConfigError)
          << "override '" << o << "': unknown key '" << key << "' (known keys: " << known_keys() << ")";
      root[key] = v;
      override_text[key] = o;
    }
  }
  const Where where(origin, override_text);
  const YAML::Node& cr = root;  // const access: a lookup must not insert the key

  SuiteConfig c;
  const auto need = [&](const char* key) {
    LUCID_CHECK_AS(cr[key].IsDefined() && !cr[key].IsNull(), ConfigError)
        << origin << ": missing required key '" << key << "'";
    return cr[key];
  };
  c.name = cr["name"] ? get_string(cr["name"], "name", where) : fs::path(origin).stem().string();
  LUCID_CHECK_AS(c.name.find('/') == std::string::npos && c.name != "." && c.name != "..", ConfigError)
      << where("name", cr["name"]) << ": key 'name': '" << c.name << "' cannot name a folder";
  c.tasks = get_names(need("tasks"), "tasks", where, false);
  c.agents = get_names(need("agents"), "agents", where, false);
  if (cr["planners"]) c.planners = get_names(cr["planners"], "planners", where, false);
  if (cr["eval_planners"]) c.eval_planners = get_names(cr["eval_planners"], "eval_planners", where, true);
  c.seeds = get_seeds(need("seeds"), where);
  if (cr["steps"]) c.steps = get_int(cr["steps"], "steps", where, 1);
  if (cr["eval_freq"]) c.eval_freq = get_int(cr["eval_freq"], "eval_freq", where, 1);
  if (cr["eval_episodes"]) c.eval_episodes = get_int(cr["eval_episodes"], "eval_episodes", where, 1);
  if (cr["model_size"]) {
    c.model_size = get_int(cr["model_size"], "model_size", where, 1);
    LUCID_CHECK_AS(
        std::find(std::begin(kModelSizes), std::end(kModelSizes), c.model_size) != std::end(kModelSizes),
        ConfigError)
        << where("model_size", cr["model_size"])
        << ": key 'model_size': must be one of 1, 5, 19, 48, 317 (millions"
        << " of parameters), got " << c.model_size;
  }
  LUCID_CHECK_AS(c.eval_freq <= c.steps, ConfigError)
      << where("eval_freq", cr["eval_freq"]) << ": key 'eval_freq': " << c.eval_freq
      << " is larger than steps (" << c.steps << "), so no evaluation would be logged";
  if (cr["out_dir"]) c.out_dir = get_string(cr["out_dir"], "out_dir", where);
  if (cr["jobs"]) c.jobs = static_cast<int>(get_int(cr["jobs"], "jobs", where, 0));
  if (const YAML::Node ta = cr["train_args"]; ta && !ta.IsNull()) {
    LUCID_CHECK_AS(ta.IsMap(), ConfigError)
        << where("train_args", ta) << ": key 'train_args': expected a map of key: value, got " << show(ta);
    for (auto it = ta.begin(); it != ta.end(); ++it) {
      const std::string k = it->first.Scalar();
      const bool reserved =
          std::any_of(std::begin(kRunKeys), std::end(kRunKeys), [&](const char* r) { return k == r; });
      LUCID_CHECK_AS(!reserved, ConfigError) << where("train_args", it->first) << ": key 'train_args." << k
                                             << "': set by the suite itself; use the "
                                             << "suite key instead";
      LUCID_CHECK_AS(it->second.IsScalar(), ConfigError)
          << where("train_args", it->second) << ": key 'train_args." << k << "': expected a scalar, got "
          << show(it->second);
      c.train_args[k] = it->second.Scalar();
    }
  }
  c.source = origin;
  return c;
}

SuiteConfig load_suite(const fs::path& file, const std::vector<std::string>& overrides) {
  const auto text = report::read_text(file);
  LUCID_CHECK_AS(text.has_value(), ConfigError) << "cannot read suite file " << file.string();
  return parse_suite(*text, file.string(), overrides);
}

std::string to_yaml(const SuiteConfig& c) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << c.name;
  e << YAML::Key << "tasks" << YAML::Value << YAML::Flow << c.tasks;
  e << YAML::Key << "agents" << YAML::Value << YAML::Flow << c.agents;
  e << YAML::Key << "planners" << YAML::Value << YAML::Flow << c.planners;
  e << YAML::Key << "eval_planners" << YAML::Value << YAML::Flow << c.eval_planners;
  e << YAML::Key << "seeds" << YAML::Value << YAML::Flow << c.seeds;
  e << YAML::Key << "steps" << YAML::Value << c.steps;
  e << YAML::Key << "eval_freq" << YAML::Value << c.eval_freq;
  e << YAML::Key << "eval_episodes" << YAML::Value << c.eval_episodes;
  e << YAML::Key << "model_size" << YAML::Value << c.model_size;
  e << YAML::Key << "out_dir" << YAML::Value << c.out_dir.string();
  e << YAML::Key << "jobs" << YAML::Value << c.jobs;
  e << YAML::Key << "train_args" << YAML::Value << YAML::BeginMap;
  for (const auto& [k, v] : c.train_args) e << YAML::Key << k << YAML::Value << v;
  e << YAML::EndMap;
  e << YAML::EndMap;
  return std::string("# Resolved suite (written by `lucid suite`; source: ") + c.source.string() + ")\n" +
         e.c_str() + "\n";
}

std::string Job::label() const {
  std::string s = task + " " + agent + "-" + planner + " seed " + std::to_string(seed);
  if (kind == Kind::kTest) s += " test " + test_planner;
  return s;
}

std::vector<Job> expand_jobs(const SuiteConfig& c) {
  std::vector<Job> jobs;
  const fs::path root = c.suite_dir();
  for (auto seed : c.seeds)
    for (const auto& task : c.tasks)
      for (const auto& agent : c.agents)
        for (const auto& planner : c.planners) {
          Job j;
          j.task = task, j.agent = agent, j.planner = planner, j.seed = seed;
          j.run_dir = root / task / (agent + "-" + planner) / ("seed_" + std::to_string(seed));
          j.dir = j.run_dir;
          jobs.push_back(std::move(j));
        }
  const std::size_t n_train = jobs.size();
  for (std::size_t i = 0; i < n_train; ++i)
    for (const auto& p : c.eval_planners) {
      if (p == jobs[i].planner) continue;
      Job t = jobs[i];
      t.kind = Job::Kind::kTest;
      t.test_planner = p;
      t.dir = t.run_dir / ("test_" + p);
      t.train_index = i;
      jobs.push_back(std::move(t));
    }
  return jobs;
}

}  // namespace lucid::suite
