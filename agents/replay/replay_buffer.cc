// ReplayBuffer: episode storage and uniform sub-trajectory sampling (see replay_buffer.h).
#include "lucid/agents/replay_buffer.h"

#include <algorithm>
#include <cstring>

#include "lucid/error.h"

namespace lucid::agents {
namespace {
constexpr const char* kFieldPrefix = "buffer/field/";
}  // namespace

std::vector<float> ReplayBuffer::filled(const Field& f, std::int64_t rows) {
  std::vector<float> v(static_cast<std::size_t>(rows) * f.fill.size());
  for (std::int64_t r = 0; r < rows; ++r)
    std::copy(f.fill.begin(), f.fill.end(), v.begin() + r * f.fill.size());
  return v;
}

int ReplayBuffer::add_field(const std::string& name, std::span<const float> fill) {
  LUCID_CHECK(!fill.empty()) << "replay buffer field '" << name << "' needs a width >= 1";
  for (const Field& f : fields_) LUCID_CHECK(f.name != name) << "replay buffer field '" << name << "' exists";
  fields_.push_back({name, std::vector<float>(fill.begin(), fill.end())});
  const auto pending = pending_fields_.find(name);
  for (Episode& e : episodes_) {
    if (pending != pending_fields_.end()) {
      auto rows = pending->second.find(e.first_id);
      if (rows != pending->second.end() && rows->second.size() == (e.length + 1) * fill.size()) {
        e.fields.push_back(std::move(rows->second));
        continue;
      }
    }
    e.fields.push_back(filled(fields_.back(), e.length + 1));
  }
  if (pending != pending_fields_.end()) pending_fields_.erase(pending);
  batch_.obs = Tensor();  // sample() rebuilds the batch with the new field
  return static_cast<int>(fields_.size()) - 1;
}

int ReplayBuffer::field_index(const std::string& name) const {
  for (std::size_t f = 0; f < fields_.size(); ++f)
    if (fields_[f].name == name) return static_cast<int>(f);
  return -1;
}

int ReplayBuffer::field_width(int field) const {
  LUCID_CHECK(field >= 0 && field < num_fields()) << "replay buffer has no field " << field;
  return static_cast<int>(fields_[field].fill.size());
}

std::span<float> ReplayBuffer::field_row(int field, std::int64_t start, int t) {
  const int w = field_width(field);
  // Episodes are stored in id order: the last one whose first id is <= start holds it.
  const auto it = std::upper_bound(episodes_.begin(), episodes_.end(), start,
                                   [](std::int64_t id, const Episode& e) { return id < e.first_id; });
  LUCID_CHECK(it != episodes_.begin()) << "replay slot " << start << " is no longer stored";
  Episode& e = *(it - 1);
  const std::int64_t k = start - e.first_id + t;
  LUCID_CHECK(t >= 0 && start - e.first_id < e.length && k <= e.length)
      << "replay slot " << start << " + " << t << " is outside its episode (first id " << e.first_id
      << ", length " << e.length << ")";
  return {e.fields[field].data() + k * w, static_cast<std::size_t>(w)};
}

ReplayBuffer::EpisodeView ReplayBuffer::episode(std::int64_t i) const {
  LUCID_CHECK(i >= 0 && i < num_episodes()) << "replay buffer has no episode " << i;
  const Episode& e = episodes_[i];
  return {e.first_id, e.length, e.obs};
}

std::span<float> ReplayBuffer::episode_field(std::int64_t i, int field) {
  field_width(field);
  LUCID_CHECK(i >= 0 && i < num_episodes()) << "replay buffer has no episode " << i;
  return episodes_[i].fields[field];
}

ReplayBuffer::ReplayBuffer(int obs_dim, int action_dim, std::int64_t capacity, int horizon)
    : obs_dim_(obs_dim), action_dim_(action_dim), horizon_(horizon), capacity_(capacity) {
  LUCID_CHECK(obs_dim > 0 && action_dim > 0 && horizon > 0 && capacity > 0)
      << "replay buffer needs positive sizes, got obs_dim=" << obs_dim << " action_dim=" << action_dim
      << " horizon=" << horizon << " capacity=" << capacity;
}

void ReplayBuffer::add_episode(std::span<const float> obs, std::span<const float> action,
                               std::span<const float> reward) {
  const auto t = static_cast<std::int64_t>(reward.size());
  LUCID_CHECK_SHAPE(static_cast<std::int64_t>(obs.size()) == (t + 1) * obs_dim_)
      << "episode of " << t << " steps needs " << (t + 1) * obs_dim_ << " observation values, got "
      << obs.size();
  LUCID_CHECK_SHAPE(static_cast<std::int64_t>(action.size()) == t * action_dim_)
      << "episode of " << t << " steps needs " << t * action_dim_ << " action values, got " << action.size();
  if (t < horizon_) return;  // too short to hold one sample; TD-MPC2 episodes are 500 steps
  Episode e;
  e.obs.assign(obs.begin(), obs.end());
  e.action.assign(action.begin(), action.end());
  e.reward.assign(reward.begin(), reward.end());
  e.length = t;
  e.first_id = next_id_;
  for (const Field& f : fields_) e.fields.push_back(filled(f, t + 1));
  next_id_ += t;
  transitions_ += t;
  episodes_.push_back(std::move(e));
  while (transitions_ > capacity_ && episodes_.size() > 1) drop_oldest_episode();
  cumulative_starts_.clear();  // rebuilt lazily by sample()
}

void ReplayBuffer::drop_oldest_episode() {
  transitions_ -= episodes_.front().length;
  episodes_.erase(episodes_.begin());
}

std::int64_t ReplayBuffer::num_transitions() const { return transitions_; }
std::int64_t ReplayBuffer::num_episodes() const { return static_cast<std::int64_t>(episodes_.size()); }

const Batch& ReplayBuffer::sample(int batch_size, Rng& rng) {
  LUCID_CHECK(!episodes_.empty()) << "cannot sample from an empty replay buffer";
  LUCID_CHECK(batch_size > 0) << "batch size must be positive, got " << batch_size;
  if (cumulative_starts_.size() != episodes_.size()) {
    cumulative_starts_.resize(episodes_.size());
    std::int64_t total = 0;
    for (std::size_t i = 0; i < episodes_.size(); ++i) {
      total += episodes_[i].length - horizon_ + 1;  // starts t = 0 .. T-H
      cumulative_starts_[i] = total;
    }
  }
  const int h = horizon_;
  if (!batch_.obs.defined() || batch_.obs.size(1) != batch_size) {
    batch_.obs = Tensor::empty(Shape{h + 1, batch_size, obs_dim_});
    batch_.action = Tensor::empty(Shape{h, batch_size, action_dim_});
    batch_.reward = Tensor::empty(Shape{h, batch_size, 1});
    batch_.start.assign(batch_size, 0);
    batch_.fields.clear();
    for (const Field& f : fields_)
      batch_.fields.push_back(
          Tensor::empty(Shape{h + 1, batch_size, static_cast<std::int64_t>(f.fill.size())}));
  }
  float* obs = batch_.obs.data();
  float* act = batch_.action.data();
  float* rew = batch_.reward.data();
  const std::int64_t total = cumulative_starts_.back();
  for (int b = 0; b < batch_size; ++b) {
    // One uniform draw over every valid start of every stored episode.
    auto k = static_cast<std::int64_t>(static_cast<double>(rng.uniform()) * static_cast<double>(total));
    k = std::min(k, total - 1);
    const auto it = std::upper_bound(cumulative_starts_.begin(), cumulative_starts_.end(), k);
    const std::size_t ep = static_cast<std::size_t>(it - cumulative_starts_.begin());
    const std::int64_t t0 = k - (ep == 0 ? 0 : cumulative_starts_[ep - 1]);
    const Episode& e = episodes_[ep];
    batch_.start[b] = e.first_id + t0;
    for (int t = 0; t <= h; ++t)
      std::memcpy(obs + (static_cast<std::int64_t>(t) * batch_size + b) * obs_dim_,
                  e.obs.data() + (t0 + t) * obs_dim_, sizeof(float) * obs_dim_);
    for (int t = 0; t < h; ++t) {
      std::memcpy(act + (static_cast<std::int64_t>(t) * batch_size + b) * action_dim_,
                  e.action.data() + (t0 + t) * action_dim_, sizeof(float) * action_dim_);
      rew[static_cast<std::int64_t>(t) * batch_size + b] = e.reward[t0 + t];
    }
    for (std::size_t f = 0; f < fields_.size(); ++f) {
      const std::int64_t w = static_cast<std::int64_t>(fields_[f].fill.size());
      float* dst = batch_.fields[f].data();
      for (int t = 0; t <= h; ++t)
        std::memcpy(dst + (static_cast<std::int64_t>(t) * batch_size + b) * w,
                    e.fields[f].data() + (t0 + t) * w, sizeof(float) * w);
    }
  }
  for (Tensor& f : batch_.fields) f.bump_version();
  batch_.obs.bump_version();
  batch_.action.bump_version();
  batch_.reward.bump_version();
  return batch_;
}

AgentState ReplayBuffer::state() const {
  AgentState s;
  std::vector<float> lengths;
  std::int64_t obs_total = 0, act_total = 0, rew_total = 0;
  for (const Episode& e : episodes_) {
    obs_total += static_cast<std::int64_t>(e.obs.size());
    act_total += static_cast<std::int64_t>(e.action.size());
    rew_total += static_cast<std::int64_t>(e.reward.size());
  }
  TensorRecord obs{"buffer/obs", {obs_total}, {}}, act{"buffer/action", {act_total}, {}},
      rew{"buffer/reward", {rew_total}, {}};
  obs.data.reserve(obs_total), act.data.reserve(act_total), rew.data.reserve(rew_total);
  std::string lens, ids;
  for (const Episode& e : episodes_) {
    obs.data.insert(obs.data.end(), e.obs.begin(), e.obs.end());
    act.data.insert(act.data.end(), e.action.begin(), e.action.end());
    rew.data.insert(rew.data.end(), e.reward.begin(), e.reward.end());
    lens += (lens.empty() ? "" : ",") + std::to_string(e.length);
    ids += (ids.empty() ? "" : ",") + std::to_string(e.first_id);
  }
  s.tensors = {std::move(obs), std::move(act), std::move(rew)};
  for (std::size_t f = 0; f < fields_.size(); ++f) {
    TensorRecord rec{kFieldPrefix + fields_[f].name, {0}, {}};
    for (const Episode& e : episodes_)
      rec.data.insert(rec.data.end(), e.fields[f].begin(), e.fields[f].end());
    rec.shape[0] = static_cast<std::int64_t>(rec.data.size());
    s.tensors.push_back(std::move(rec));
  }
  // Lengths and ids as text: they are integers that float32 would round past 2^24.
  s.scalars["buffer/episode_lengths"] = lens;
  s.scalars["buffer/episode_first_ids"] = ids;
  s.scalars["buffer/next_id"] = std::to_string(next_id_);
  return s;
}

namespace {
std::vector<std::int64_t> parse_list(const std::string& s) {
  std::vector<std::int64_t> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    out.push_back(std::stoll(s.substr(pos, end - pos)));
    pos = end + 1;
  }
  return out;
}
const TensorRecord* find_optional(const AgentState& s, const std::string& name) {
  for (const auto& t : s.tensors)
    if (t.name == name) return &t;
  return nullptr;
}
const TensorRecord& find(const AgentState& s, const std::string& name) {
  const TensorRecord* t = find_optional(s, name);
  LUCID_CHECK_AS(t != nullptr, IoError) << "checkpoint has no record '" << name << "'";
  return *t;
}
const std::string& find_scalar(const AgentState& s, const std::string& name) {
  auto it = s.scalars.find(name);
  LUCID_CHECK_AS(it != s.scalars.end(), IoError) << "checkpoint has no value '" << name << "'";
  return it->second;
}
}  // namespace

void ReplayBuffer::load_state(const AgentState& s) {
  const auto& obs = find(s, "buffer/obs");
  const auto& act = find(s, "buffer/action");
  const auto& rew = find(s, "buffer/reward");
  const auto lengths = parse_list(find_scalar(s, "buffer/episode_lengths"));
  const auto ids = parse_list(find_scalar(s, "buffer/episode_first_ids"));
  LUCID_CHECK_AS(lengths.size() == ids.size(), IoError) << "buffer episode lists disagree in length";
  std::vector<Episode> episodes;
  std::int64_t o = 0, a = 0, r = 0, transitions = 0;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    const std::int64_t t = lengths[i];
    Episode e;
    LUCID_CHECK_AS(t > 0 && o + (t + 1) * obs_dim_ <= static_cast<std::int64_t>(obs.data.size()) &&
                       a + t * action_dim_ <= static_cast<std::int64_t>(act.data.size()) &&
                       r + t <= static_cast<std::int64_t>(rew.data.size()),
                   IoError)
        << "buffer records are shorter than the episode lengths say (obs_dim " << obs_dim_ << ", action_dim "
        << action_dim_ << ")";
    e.obs.assign(obs.data.begin() + o, obs.data.begin() + o + (t + 1) * obs_dim_);
    e.action.assign(act.data.begin() + a, act.data.begin() + a + t * action_dim_);
    e.reward.assign(rew.data.begin() + r, rew.data.begin() + r + t);
    o += (t + 1) * obs_dim_, a += t * action_dim_, r += t;
    e.length = t;
    e.first_id = ids[i];
    transitions += t;
    episodes.push_back(std::move(e));
  }
  LUCID_CHECK_AS(o == static_cast<std::int64_t>(obs.data.size()) &&
                     a == static_cast<std::int64_t>(act.data.size()) &&
                     r == static_cast<std::int64_t>(rew.data.size()),
                 IoError)
      << "buffer records do not match this buffer's obs_dim " << obs_dim_ << " / action_dim " << action_dim_;
  // Fields: from their records when the checkpoint has them, else the fill (older checkpoints).
  for (std::size_t f = 0; f < fields_.size(); ++f) {
    const TensorRecord* rec = find_optional(s, kFieldPrefix + fields_[f].name);
    const std::int64_t w = static_cast<std::int64_t>(fields_[f].fill.size());
    std::int64_t off = 0;
    for (Episode& e : episodes) {
      const std::int64_t n = (e.length + 1) * w;
      if (!rec) {
        e.fields.push_back(filled(fields_[f], e.length + 1));
        continue;
      }
      LUCID_CHECK_AS(off + n <= static_cast<std::int64_t>(rec->data.size()), IoError)
          << "buffer field '" << fields_[f].name << "' is shorter than the episodes need";
      e.fields.emplace_back(rec->data.begin() + off, rec->data.begin() + off + n);
      off += n;
    }
    LUCID_CHECK_AS(!rec || off == static_cast<std::int64_t>(rec->data.size()), IoError)
        << "buffer field '" << fields_[f].name << "' does not match the episodes (width " << w << ")";
  }
  // Field records of fields not registered yet: kept per episode for add_field.
  pending_fields_.clear();
  const std::string prefix = kFieldPrefix;
  std::int64_t rows_total = 0;
  for (const Episode& e : episodes) rows_total += e.length + 1;
  for (const TensorRecord& rec : s.tensors) {
    if (rec.name.rfind(prefix, 0) != 0) continue;
    const std::string name = rec.name.substr(prefix.size());
    if (std::any_of(fields_.begin(), fields_.end(), [&](const Field& f) { return f.name == name; })) continue;
    const auto n = static_cast<std::int64_t>(rec.data.size());
    LUCID_CHECK_AS(rows_total > 0 && n % rows_total == 0, IoError)
        << "buffer field '" << name << "' has " << n << " values for " << rows_total << " observation rows";
    const std::int64_t w = n / rows_total;
    auto& per_episode = pending_fields_[name];
    std::int64_t off = 0;
    for (const Episode& e : episodes) {
      const std::int64_t m = (e.length + 1) * w;
      per_episode[e.first_id].assign(rec.data.begin() + off, rec.data.begin() + off + m);
      off += m;
    }
  }
  episodes_ = std::move(episodes);
  transitions_ = transitions;
  next_id_ = std::stoll(find_scalar(s, "buffer/next_id"));
  cumulative_starts_.clear();
}

}  // namespace lucid::agents
