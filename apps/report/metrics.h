// Aggregate metrics over normalized scores, as rliable (Agarwal et al., NeurIPS 2021) defines them.
//
// Input: a score table with one column per task and one entry per run (seed) of that task. The
// table may be ragged (a task can have fewer finished runs than another); with equal run counts
// every metric equals rliable's on the (runs x tasks) matrix:
//   mean     = mean over tasks of the per-task mean score
//   median   = median over tasks of the per-task mean score
//   iqm      = scipy.stats.trim_mean(all scores, 0.25): sort all runs x tasks scores, drop
//              floor(0.25 n) from each end, average the rest
//   opt. gap = mean over all scores of max(0, gamma - score), gamma = 1
// Confidence intervals: stratified bootstrap — each replicate resamples, with replacement and
// independently per task, as many runs as that task has; the interval is the percentile interval
// of the replicate statistics. Score distributions (performance profiles): the fraction of all
// runs x tasks scores strictly above tau, on a tau grid, with the same bootstrap CIs.
//
// Everything is computed in double on the host; nothing here allocates per element beyond the
// replicate buffers, and the bootstrap is deterministic given its seed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lucid::report {

// scores[t] holds the runs of task t. Every task needs at least one run.
using ScoreTable = std::vector<std::vector<double>>;

double aggregate_mean(const ScoreTable& scores);
double aggregate_median(const ScoreTable& scores);
double aggregate_iqm(const ScoreTable& scores);
double aggregate_optimality_gap(const ScoreTable& scores, double gamma = 1.0);
// Fraction of all scores strictly greater than tau (rliable's run-score distribution).
double score_fraction_above(const ScoreTable& scores, double tau);

// Median of a plain vector (average of the two middle values for an even count).
double median_of(std::vector<double> v);
// scipy.stats.trim_mean(v, proportion): drops floor(proportion * n) values from each end.
double trimmed_mean(std::vector<double> v, double proportion);

// Episode return -> normalized score. DMC tasks (returns in [0, 1000]) are divided by 1000;
// other domains are passed through unchanged and reported as unnormalized.
bool is_dmc_task(const std::string& task);
double normalize_score(const std::string& task, double episode_return);

struct Interval {
  double point = 0, lo = 0, hi = 0;
};

struct BootstrapOptions {
  int reps = 2000;           // bootstrap replicates (rliable's default)
  double confidence = 0.95;  // percentile interval [(1-c)/2, (1+c)/2]
  std::uint64_t seed = 0;    // the replicate draws depend only on this seed
};

struct AggregateMetrics {
  Interval median, iqm, mean, optimality_gap;
  std::size_t tasks = 0, runs = 0;  // runs = total scores over all tasks
};

// Point estimates and stratified-bootstrap percentile CIs of the four aggregates.
AggregateMetrics compute_aggregates(const ScoreTable& scores, const BootstrapOptions& opts = {});

// Performance profile: one Interval per tau.
std::vector<Interval> score_distribution(const ScoreTable& scores, const std::vector<double>& taus,
                                         const BootstrapOptions& opts = {});

// tau grid [lo, hi] with n points, endpoints included (n >= 2).
std::vector<double> linspace(double lo, double hi, int n);

// Stratified bootstrap of a vector-valued statistic: `stat(table, out)` writes n_stats values
// into out (already sized). All statistics share the same resamples, as rliable's
// get_interval_estimates does for its four aggregates. Returns one Interval per statistic.
using MultiStat = std::function<void(const ScoreTable&, std::vector<double>&)>;
std::vector<Interval> stratified_bootstrap(const ScoreTable& scores, const MultiStat& stat,
                                           std::size_t n_stats, const BootstrapOptions& opts);

namespace detail {
// SplitMix64 (Steele et al. 2014): a tiny, well-mixed 64-bit generator. The bootstrap only needs
// integer indices; a local generator keeps report results reproducible independently of the
// engine's Philox stream and of the standard library's distribution implementations.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform index in [0, n) by Lemire's multiply-shift with rejection (no modulo bias).
  std::size_t index(std::size_t n);

 private:
  std::uint64_t state_;
};
// numpy's default (linear interpolation) percentile, q in [0, 100].
double percentile(std::vector<double> v, double q);
}  // namespace detail

}  // namespace lucid::report
