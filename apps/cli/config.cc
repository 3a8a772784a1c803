// Config: parsing and type checking of keys and values (see config.h).
#include "cli/config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "lucid/error.h"

namespace lucid::cli {
namespace {

const char* type_name(ValueType t) {
  switch (t) {
    case ValueType::kBool:
      return "a bool (true/false)";
    case ValueType::kInt:
      return "an integer";
    case ValueType::kFloat:
      return "a number";
    case ValueType::kString:
      return "a string";
  }
  return "?";
}

bool parse_bool(const std::string& s, bool* out) {
  if (s == "true" || s == "True" || s == "1" || s == "yes" || s == "on") return *out = true, true;
  if (s == "false" || s == "False" || s == "0" || s == "no" || s == "off") return *out = false, true;
  return false;
}

bool parse_int(const std::string& s, std::int64_t* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) {
    // Accept "1e5"-style integers that users type for step counts, when they are exact.
    char* fend = nullptr;
    const double d = std::strtod(s.c_str(), &fend);
    if (fend != s.c_str() + s.size() || d != static_cast<double>(static_cast<long long>(d))) return false;
    *out = static_cast<std::int64_t>(d);
    return true;
  }
  *out = v;
  return true;
}

bool parse_float(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(s.c_str(), &end);
  return errno == 0 && end == s.c_str() + s.size();
}

// The type a default value declares: YAML plain scalars that read as bool/int/float are those.
ValueType infer_type(const YAML::Node& node) {
  if (node.Tag() == "!") return ValueType::kString;  // quoted scalar
  const std::string s = node.Scalar();
  bool b = false;
  std::int64_t i = 0;
  double f = 0.0;
  if (s == "true" || s == "false") return parse_bool(s, &b), ValueType::kBool;
  if (parse_int(s, &i) && s.find_first_of(".eE") == std::string::npos) return ValueType::kInt;
  if (parse_float(s, &f)) return ValueType::kFloat;
  return ValueType::kString;
}

YAML::Node load_yaml(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) LUCID_FAIL(ConfigError) << "config file not found: " << path.string();
  try {
    return YAML::LoadFile(path.string());
  } catch (const YAML::Exception& e) {
    LUCID_FAIL(ConfigError) << path.string() << ":" << e.mark.line + 1 << ": not valid YAML: " << e.msg;
  }
}

}  // namespace

Config Config::from_defaults(const std::filesystem::path& defaults_yaml) {
  const YAML::Node root = load_yaml(defaults_yaml);
  LUCID_CHECK_AS(root.IsMap(), ConfigError) << defaults_yaml.string() << " must be a mapping of key: value";
  Config c;
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    LUCID_CHECK_AS(kv.second.IsScalar(), ConfigError)
        << defaults_yaml.string() << ":" << kv.first.Mark().line + 1 << ": default of '" << key
        << "' is not a scalar";
    Entry e;
    e.type = infer_type(kv.second);
    e.value = kv.second.Scalar();
    c.entries_[key] = e;
    c.order_.push_back(key);
  }
  return c;
}

Config Config::defaults() {
  const char* env = std::getenv("LUCID_CONFIG_DIR");
  const std::filesystem::path dir =
      env && *env ? std::filesystem::path(env) : std::filesystem::path(LUCID_CONFIG_DIR);
  return from_defaults(dir / "config.yaml");
}

void Config::merge_file(const std::filesystem::path& yaml) {
  const YAML::Node root = load_yaml(yaml);
  if (root.IsNull()) return;  // an empty file overrides nothing
  LUCID_CHECK_AS(root.IsMap(), ConfigError) << yaml.string() << ": expected a mapping of key: value";
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    const std::string where = yaml.string() + ":" + std::to_string(kv.first.Mark().line + 1);
    LUCID_CHECK_AS(kv.second.IsScalar(), ConfigError)
        << where << ": value of '" << key << "' must be a scalar";
    assign(key, kv.second.Scalar(), where);
  }
}

void Config::apply_overrides(const std::vector<std::string>& key_values) {
  for (const std::string& kv : key_values) {
    const auto eq = kv.find('=');
    LUCID_CHECK_AS(eq != std::string::npos && eq > 0, ConfigError)
        << "expected key=value, got '" << kv << "' (valid keys: " << valid_keys() << ")";
    assign(kv.substr(0, eq), kv.substr(eq + 1), "command line");
  }
}

void Config::set(const std::string& key, const std::string& value) { assign(key, value, "program"); }

void Config::assign(const std::string& key, const std::string& value, const std::string& where) {
  auto it = entries_.find(key);
  if (it == entries_.end())
    LUCID_FAIL(ConfigError) << where << ": unknown key '" << key << "' (valid keys: " << valid_keys() << ")";
  Entry& e = it->second;
  bool b = false;
  std::int64_t i = 0;
  double f = 0.0;
  bool ok = true;
  std::string canonical = value;
  switch (e.type) {
    case ValueType::kBool:
      ok = parse_bool(value, &b), canonical = b ? "true" : "false";
      break;
    case ValueType::kInt:
      ok = parse_int(value, &i), canonical = std::to_string(i);
      break;
    case ValueType::kFloat:
      ok = parse_float(value, &f);
      break;
    case ValueType::kString:
      break;
  }
  if (!ok)
    LUCID_FAIL(ConfigError) << where << ": key '" << key << "' takes " << type_name(e.type) << ", got '"
                            << value << "'";
  e.value = canonical;
  e.set = true;
}

const Config::Entry& Config::entry(const std::string& key, ValueType want) const {
  auto it = entries_.find(key);
  LUCID_CHECK_AS(it != entries_.end(), ConfigError) << "unknown key '" << key << "'";
  // An int default read as float is fine (lr: 1 means 1.0); nothing else converts.
  const bool ok =
      it->second.type == want || (want == ValueType::kFloat && it->second.type == ValueType::kInt);
  LUCID_CHECK_AS(ok, ConfigError) << "key '" << key << "' holds " << type_name(it->second.type)
                                  << ", read as " << type_name(want);
  return it->second;
}

bool Config::get_bool(const std::string& key) const { return entry(key, ValueType::kBool).value == "true"; }
std::int64_t Config::get_int(const std::string& key) const {
  return std::strtoll(entry(key, ValueType::kInt).value.c_str(), nullptr, 10);
}
double Config::get_float(const std::string& key) const {
  return std::strtod(entry(key, ValueType::kFloat).value.c_str(), nullptr);
}
std::string Config::get_string(const std::string& key) const { return entry(key, ValueType::kString).value; }
bool Config::is_set(const std::string& key) const {
  auto it = entries_.find(key);
  return it != entries_.end() && it->second.set;
}

void Config::unset_defaults(const Config& defaults) {
  for (auto& [key, e] : entries_) {
    auto it = defaults.entries_.find(key);
    if (it != defaults.entries_.end() && it->second.value == e.value) e.set = false;
  }
}

std::string Config::value_text(const std::string& key) const {
  auto it = entries_.find(key);
  LUCID_CHECK_AS(it != entries_.end(), ConfigError) << "unknown key '" << key << "'";
  return it->second.value;
}

std::string Config::valid_keys() const {
  std::string out;
  for (const auto& k : order_) out += (out.empty() ? "" : ", ") + k;
  return out;
}

std::string Config::to_yaml() const {
  std::ostringstream os;
  for (const auto& k : order_) {
    const Entry& e = entries_.at(k);
    if (e.type == ValueType::kString)
      os << k << ": \"" << e.value << "\"\n";
    else
      os << k << ": " << e.value << "\n";
  }
  return os.str();
}

}  // namespace lucid::cli
