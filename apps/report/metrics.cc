// rliable-style aggregate metrics and stratified bootstrap CIs; see metrics.h for definitions.
#include "report/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "lucid/error.h"

namespace lucid::report {
namespace {

void check_table(const ScoreTable& scores) {
  LUCID_CHECK(!scores.empty()) << "score table has no tasks";
  for (std::size_t t = 0; t < scores.size(); ++t) {
    LUCID_CHECK(!scores[t].empty()) << "task column " << t << " has no runs";
    for (double s : scores[t])
      LUCID_CHECK(std::isfinite(s)) << "task column " << t << " holds a non-finite score";
  }
}

std::vector<double> task_means(const ScoreTable& scores) {
  std::vector<double> m(scores.size());
  for (std::size_t t = 0; t < scores.size(); ++t)
    m[t] = std::accumulate(scores[t].begin(), scores[t].end(), 0.0) / static_cast<double>(scores[t].size());
  return m;
}

std::vector<double> flatten(const ScoreTable& scores) {
  std::vector<double> all;
  for (const auto& col : scores) all.insert(all.end(), col.begin(), col.end());
  return all;
}

}  // namespace

double median_of(std::vector<double> v) {
  LUCID_CHECK(!v.empty()) << "median of an empty set";
  const std::size_t n = v.size(), mid = n / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  const double upper = v[mid];
  if (n % 2 == 1) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return 0.5 * (lower + upper);
}

double trimmed_mean(std::vector<double> v, double proportion) {
  LUCID_CHECK(!v.empty()) << "trimmed mean of an empty set";
  LUCID_CHECK(proportion >= 0.0 && proportion < 0.5)
      << "trim proportion must lie in [0, 0.5), got " << proportion;
  // scipy: lowercut = int(proportion * n), uppercut = n - lowercut; mean of sorted[lowercut:uppercut].
  const std::size_t n = v.size();
  const auto cut = static_cast<std::size_t>(proportion * static_cast<double>(n));
  std::sort(v.begin(), v.end());
  double sum = 0.0;
  for (std::size_t i = cut; i < n - cut; ++i) sum += v[i];
  return sum / static_cast<double>(n - 2 * cut);
}

double aggregate_mean(const ScoreTable& scores) {
  check_table(scores);
  const auto m = task_means(scores);
  return std::accumulate(m.begin(), m.end(), 0.0) / static_cast<double>(m.size());
}

double aggregate_median(const ScoreTable& scores) {
  check_table(scores);
  return median_of(task_means(scores));
}

double aggregate_iqm(const ScoreTable& scores) {
  check_table(scores);
  return trimmed_mean(flatten(scores), 0.25);
}

double aggregate_optimality_gap(const ScoreTable& scores, double gamma) {
  check_table(scores);
  double sum = 0.0;
  std::size_t n = 0;
  for (const auto& col : scores)
    for (double s : col) sum += std::max(0.0, gamma - s), ++n;
  return sum / static_cast<double>(n);
}

double score_fraction_above(const ScoreTable& scores, double tau) {
  check_table(scores);
  std::size_t above = 0, n = 0;
  for (const auto& col : scores)
    for (double s : col) above += s > tau ? 1 : 0, ++n;
  return static_cast<double>(above) / static_cast<double>(n);
}

bool is_dmc_task(const std::string& task) {
  // Domains of the DeepMind Control Suite, spelled as lucid's task names (`domain-task`).
  static const char* const kDmcDomains[] = {
      "acrobot",    "ball_in_cup", "cup",     "cartpole", "cheetah",     "dog",
      "finger",     "fish",        "hopper",  "humanoid", "manipulator", "pendulum",
      "point_mass", "quadruped",   "reacher", "stacker",  "swimmer",     "walker"};
  const auto dash = task.find('-');
  const std::string domain = task.substr(0, dash);
  return std::any_of(std::begin(kDmcDomains), std::end(kDmcDomains),
                     [&](const char* d) { return domain == d; });
}

double normalize_score(const std::string& task, double episode_return) {
  return is_dmc_task(task) ? episode_return / 1000.0 : episode_return;
}

std::vector<double> linspace(double lo, double hi, int n) {
  LUCID_CHECK(n >= 2) << "linspace needs at least 2 points, got " << n;
  std::vector<double> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = lo + (hi - lo) * i / (n - 1);
  return v;
}

std::vector<Interval> stratified_bootstrap(const ScoreTable& scores, const MultiStat& stat,
                                           std::size_t n_stats, const BootstrapOptions& opts) {
  check_table(scores);
  LUCID_CHECK(opts.confidence > 0.0 && opts.confidence < 1.0)
      << "confidence must lie in (0, 1), got " << opts.confidence;
  std::vector<double> value(n_stats);
  stat(scores, value);
  std::vector<Interval> out(n_stats);
  for (std::size_t k = 0; k < n_stats; ++k) out[k].point = out[k].lo = out[k].hi = value[k];
  if (opts.reps <= 0) return out;

  detail::SplitMix64 rng(opts.seed);
  ScoreTable sample(scores.size());
  for (std::size_t t = 0; t < scores.size(); ++t) sample[t].resize(scores[t].size());
  // reps[k * R + r]: statistic k of replicate r.
  const auto reps = static_cast<std::size_t>(opts.reps);
  std::vector<double> replicate(n_stats * reps);
  for (std::size_t r = 0; r < reps; ++r) {
    for (std::size_t t = 0; t < scores.size(); ++t)
      for (double& s : sample[t]) s = scores[t][rng.index(scores[t].size())];
    stat(sample, value);
    for (std::size_t k = 0; k < n_stats; ++k) replicate[k * reps + r] = value[k];
  }
  const double alpha = 100.0 * (1.0 - opts.confidence) / 2.0;
  for (std::size_t k = 0; k < n_stats; ++k) {
    std::vector<double> col(replicate.begin() + static_cast<std::ptrdiff_t>(k * reps),
                            replicate.begin() + static_cast<std::ptrdiff_t>((k + 1) * reps));
    out[k].lo = detail::percentile(col, alpha);
    out[k].hi = detail::percentile(std::move(col), 100.0 - alpha);
  }
  return out;
}

AggregateMetrics compute_aggregates(const ScoreTable& scores, const BootstrapOptions& opts) {
  const auto stat = [](const ScoreTable& s, std::vector<double>& out) {
    out[0] = aggregate_median(s);
    out[1] = aggregate_iqm(s);
    out[2] = aggregate_mean(s);
    out[3] = aggregate_optimality_gap(s);
  };
  const auto iv = stratified_bootstrap(scores, stat, 4, opts);
  AggregateMetrics m;
  m.median = iv[0];
  m.iqm = iv[1];
  m.mean = iv[2];
  m.optimality_gap = iv[3];
  m.tasks = scores.size();
  for (const auto& col : scores) m.runs += col.size();
  return m;
}

std::vector<Interval> score_distribution(const ScoreTable& scores, const std::vector<double>& taus,
                                         const BootstrapOptions& opts) {
  const auto stat = [&taus](const ScoreTable& s, std::vector<double>& out) {
    for (std::size_t i = 0; i < taus.size(); ++i) out[i] = score_fraction_above(s, taus[i]);
  };
  return stratified_bootstrap(scores, stat, taus.size(), opts);
}

namespace detail {

std::size_t SplitMix64::index(std::size_t n) {
  // Lemire (2019), "Fast random integer generation in an interval".
  const auto range = static_cast<std::uint64_t>(n);
  unsigned __int128 m = static_cast<unsigned __int128>(next()) * range;
  auto low = static_cast<std::uint64_t>(m);
  if (low < range) {
    const std::uint64_t threshold = -range % range;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(next()) * range;
      low = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::size_t>(m >> 64);
}

double percentile(std::vector<double> v, double q) {
  LUCID_CHECK(!v.empty()) << "percentile of an empty set";
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
  const auto i = static_cast<std::size_t>(std::floor(pos));
  if (i + 1 >= v.size()) return v.back();
  const double frac = pos - static_cast<double>(i);
  return v[i] + frac * (v[i + 1] - v[i]);
}

}  // namespace detail
}  // namespace lucid::report
