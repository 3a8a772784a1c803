// Config — the typed key/value configuration of the `lucid` CLI.
//
// The set of keys, their types and defaults come from apps/configs/config.yaml (the type of a
// key is the type of its default). A --config file and key=value overrides may only set keys
// that exist there, with values of the right type; anything else is a lucid::ConfigError whose
// one-line message names the key (and, for unknown keys, lists the valid ones). Keys keep the
// order of the defaults file so that dumps read like it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace lucid::cli {

enum class ValueType { kBool, kInt, kFloat, kString };

class Config {
 public:
  // Reads the defaults file that defines every key. Throws ConfigError if it is missing.
  static Config from_defaults(const std::filesystem::path& defaults_yaml);
  // The defaults shipped with lucid: $LUCID_CONFIG_DIR/config.yaml, else the source tree's.
  static Config defaults();

  // Applies a YAML file of overrides (a flat mapping). Unknown keys and wrong types are refused
  // with the file, line and key in the message.
  void merge_file(const std::filesystem::path& yaml);
  // Applies "key=value" strings, in order.
  void apply_overrides(const std::vector<std::string>& key_values);
  void set(const std::string& key, const std::string& value);

  bool has(const std::string& key) const { return entries_.count(key) != 0; }
  bool get_bool(const std::string& key) const;
  std::int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  // True when the key was set by a file or override rather than left at its default.
  bool is_set(const std::string& key) const;
  // Marks every key whose value equals its value in `defaults` as not set. A run's config.yaml
  // lists every key; read back, only the keys that differ from the defaults count as chosen (so
  // a planner's own defaults still apply to the rest, as they did when the run was trained).
  void unset_defaults(const Config& defaults);
  // The value as text, whatever its type (to carry a value from one Config to another).
  std::string value_text(const std::string& key) const;

  const std::vector<std::string>& keys() const { return order_; }
  std::string valid_keys() const;  // "a, b, c" for error messages
  std::string to_yaml() const;     // every key with its current value, in defaults order

 private:
  struct Entry {
    ValueType type = ValueType::kString;
    std::string value;  // canonical text of the value
    bool set = false;
  };
  const Entry& entry(const std::string& key, ValueType want) const;
  void assign(const std::string& key, const std::string& value, const std::string& where);

  std::map<std::string, Entry> entries_;
  std::vector<std::string> order_;
};

}  // namespace lucid::cli
