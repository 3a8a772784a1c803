// Checkpoint save/load on top of safetensors (file contents and guarantees in lucid/engine/checkpoint.h).
#include "lucid/engine/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <sstream>
#include <unordered_map>

#include "lucid/engine/safetensors.h"
#include "lucid/error.h"

namespace lucid {
namespace {

constexpr const char* kFormatKey = "lucid.format";
constexpr const char* kFormatVersion = "1";
constexpr const char* kStepKey = "lucid.adam.step";
constexpr const char* kRngPrefix = "lucid.rng.";
constexpr const char* kExpAvg = "optim.exp_avg.";
constexpr const char* kExpAvgSq = "optim.exp_avg_sq.";

std::size_t numel_of(const std::vector<std::int64_t>& shape) {
  std::size_t n = 1;
  for (std::int64_t d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::ostringstream os;
  os << "[";
  for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

// Views sorted by offset must cover [0, params.size()) without gaps or overlaps.
void check_tiling(const CheckpointState& s) {
  std::vector<const ArenaView*> sorted;
  for (const ArenaView& v : s.views) sorted.push_back(&v);
  std::sort(sorted.begin(), sorted.end(),
            [](const ArenaView* a, const ArenaView* b) { return a->offset < b->offset; });
  std::size_t end = 0;
  for (const ArenaView* v : sorted) {
    for (std::int64_t d : v->shape)
      LUCID_CHECK_SHAPE(d >= 0) << "view " << v->name << " has shape " << shape_text(v->shape);
    LUCID_CHECK_SHAPE(v->offset == end) << "arena views must tile the arena: '" << v->name << "' starts at "
                                        << v->offset << ", expected " << end;
    end += numel_of(v->shape);
  }
  LUCID_CHECK_SHAPE(end == s.params.size())
      << "arena views cover " << end << " floats, the arena holds " << s.params.size();
  if (s.adam) {
    LUCID_CHECK_SHAPE(s.adam->size() == s.params.size())
        << "Adam tracks " << s.adam->size() << " floats, the arena holds " << s.params.size();
  }
}

TensorRecord record_of(const std::string& name, const std::vector<std::int64_t>& shape, const float* src) {
  TensorRecord r{name, shape, {}};
  r.data.assign(src, src + numel_of(shape));
  return r;
}

std::uint64_t parse_u64(const std::string& text, const std::filesystem::path& path, const std::string& key) {
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  LUCID_CHECK_AS(ec == std::errc() && p == text.data() + text.size(), IoError)
      << path << ": metadata " << key << " = '" << text << "' is not an unsigned integer";
  return v;
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const CheckpointState& state,
                     const std::map<std::string, std::string>& metadata) {
  check_tiling(state);
  std::map<std::string, std::string> meta;
  for (const auto& [k, v] : metadata) {
    LUCID_CHECK(k.rfind("lucid.", 0) != 0) << "metadata key '" << k << "' uses the reserved prefix 'lucid.'";
    meta[k] = v;
  }
  meta[kFormatKey] = kFormatVersion;
  std::vector<TensorRecord> records;
  for (const ArenaView& v : state.views)
    records.push_back(record_of(v.name, v.shape, state.params.data() + v.offset));
  if (state.adam) {
    meta[kStepKey] = std::to_string(state.adam->step_count());
    const Adam& adam = *state.adam;
    for (const ArenaView& v : state.views)
      records.push_back(record_of(kExpAvg + v.name, v.shape, adam.exp_avg().data() + v.offset));
    for (const ArenaView& v : state.views)
      records.push_back(record_of(kExpAvgSq + v.name, v.shape, adam.exp_avg_sq().data() + v.offset));
  }
  for (const auto& [name, rng] : state.rngs) {
    meta[kRngPrefix + name] = std::to_string(rng->seed()) + " " + std::to_string(rng->stream()) + " " +
                              std::to_string(rng->offset());
  }
  save_safetensors(path, records, meta);
}

std::map<std::string, std::string> load_checkpoint(const std::filesystem::path& path,
                                                   CheckpointState& state) {
  check_tiling(state);
  SafetensorsFile file = load_safetensors(path);
  const auto fmt = file.metadata.find(kFormatKey);
  LUCID_CHECK_AS(fmt != file.metadata.end() && fmt->second == kFormatVersion, IoError)
      << path << " is not a lucid checkpoint of format " << kFormatVersion << " (metadata " << kFormatKey
      << " is '" << (fmt == file.metadata.end() ? std::string("missing") : fmt->second) << "')";
  std::unordered_map<std::string, const TensorRecord*> by_name;
  for (const TensorRecord& r : file.tensors) by_name[r.name] = &r;

  // Pass 1: find and check everything; nothing is written until all of it is known to fit.
  auto find = [&](const std::string& name, const std::vector<std::int64_t>& shape) {
    const auto it = by_name.find(name);
    LUCID_CHECK_AS(it != by_name.end(), IoError) << path << " has no tensor '" << name << "'";
    LUCID_CHECK_AS(it->second->shape == shape, IoError)
        << path << ": tensor '" << name << "' has shape " << shape_text(it->second->shape)
        << ", the model expects " << shape_text(shape);
    return it->second;
  };
  struct Copy {
    const TensorRecord* src;
    float* dst;
  };
  std::vector<Copy> copies;
  for (const ArenaView& v : state.views)
    copies.push_back({find(v.name, v.shape), state.params.data() + v.offset});
  std::int64_t step = 0;
  if (state.adam) {
    const auto it = file.metadata.find(kStepKey);
    LUCID_CHECK_AS(it != file.metadata.end(), IoError)
        << path << " holds no optimizer state (" << kStepKey << ")";
    step = static_cast<std::int64_t>(parse_u64(it->second, path, kStepKey));
    for (const ArenaView& v : state.views) {
      copies.push_back({find(kExpAvg + v.name, v.shape), state.adam->exp_avg().data() + v.offset});
      copies.push_back({find(kExpAvgSq + v.name, v.shape), state.adam->exp_avg_sq().data() + v.offset});
    }
  }
  struct RngState {
    Rng* rng;
    std::uint64_t seed, stream, offset;
  };
  std::vector<RngState> rng_states;
  for (const auto& [name, rng] : state.rngs) {
    const std::string key = kRngPrefix + name;
    const auto it = file.metadata.find(key);
    LUCID_CHECK_AS(it != file.metadata.end(), IoError) << path << " holds no state for RNG '" << name << "'";
    std::istringstream is(it->second);
    std::string seed, stream, offset, extra;
    is >> seed >> stream >> offset;
    LUCID_CHECK_AS(!offset.empty() && !(is >> extra), IoError)
        << path << ": metadata " << key << " = '" << it->second << "' is not '<seed> <stream> <offset>'";
    rng_states.push_back(
        {rng, parse_u64(seed, path, key), parse_u64(stream, path, key), parse_u64(offset, path, key)});
  }

  // Pass 2: write.
  for (const Copy& c : copies) std::copy(c.src->data.begin(), c.src->data.end(), c.dst);
  if (state.adam) state.adam->set_step_count(step);
  for (const RngState& r : rng_states) {
    *r.rng = Rng(r.seed, r.stream);
    r.rng->set_offset(r.offset);
  }

  std::map<std::string, std::string> user;
  for (auto& [k, v] : file.metadata)
    if (k.rfind("lucid.", 0) != 0) user.emplace(k, std::move(v));
  return user;
}

}  // namespace lucid
