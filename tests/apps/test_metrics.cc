// Aggregate metrics against values computed by hand (and by the numpy/scipy definitions rliable
// uses), plus the stratified bootstrap's determinism and coverage on synthetic experiments.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "lucid/error.h"
#include "report/metrics.h"

namespace lucid::report {
namespace {

TEST(Metrics, TrimmedMeanFollowsScipyTrimming) {
  // n = 8: floor(0.25 * 8) = 2 dropped from each end of 1 2 3 4 5 6 10 100 -> mean(3,4,5,6).
  EXPECT_DOUBLE_EQ(trimmed_mean({10, 1, 2, 3, 4, 100, 5, 6}, 0.25), 4.5);
  // n = 7: floor(1.75) = 1 dropped from each end of 1 2 3 5 7 9 11 -> mean(2,3,5,7,9) = 26/5.
  EXPECT_DOUBLE_EQ(trimmed_mean({7, 1, 3, 9, 5, 11, 2}, 0.25), 5.2);
  // n = 3: nothing is trimmed (floor(0.75) = 0).
  EXPECT_DOUBLE_EQ(trimmed_mean({0, 0, 3}, 0.25), 1.0);
}

TEST(Metrics, IqmPoolsAllRunsOfAllTasks) {
  // 2 tasks x 4 runs; pooled sorted: .1 .2 .3 .4 .5 .6 .9 1.0 -> middle four .3 .4 .5 .6.
  const ScoreTable t = {{0.1, 0.9, 0.4, 0.5}, {1.0, 0.2, 0.3, 0.6}};
  EXPECT_NEAR(aggregate_iqm(t), 0.45, 1e-12);
}

TEST(Metrics, MedianAndMeanAreOverPerTaskMeans) {
  const ScoreTable t = {{0.2, 0.4}, {0.9, 0.7}, {0.1, 0.5}};  // task means 0.3, 0.8, 0.3
  EXPECT_NEAR(aggregate_median(t), 0.3, 1e-12);
  EXPECT_NEAR(aggregate_mean(t), 1.4 / 3.0, 1e-12);
  EXPECT_NEAR(median_of({4, 1, 3, 2}), 2.5, 1e-12);
  EXPECT_NEAR(median_of({5, 1, 3}), 3.0, 1e-12);
}

TEST(Metrics, OptimalityGapClipsScoresAboveGamma) {
  // gaps: max(0, 1 - s) = 0, 0.4, 0.7, 0.1 -> 0.3; the 1.2 earns no credit beyond 1.
  EXPECT_NEAR(aggregate_optimality_gap({{1.2, 0.6}, {0.3, 0.9}}), 0.3, 1e-12);
  EXPECT_NEAR(aggregate_optimality_gap({{1.2, 0.6}, {0.3, 0.9}}, 0.5), (0 + 0 + 0.2 + 0) / 4.0, 1e-12);
}

TEST(Metrics, ScoreDistributionCountsStrictlyAbove) {
  const ScoreTable t = {{0.1, 0.5}, {0.9, 0.3}};
  EXPECT_DOUBLE_EQ(score_fraction_above(t, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(score_fraction_above(t, 0.3), 0.5);  // 0.3 itself is not above 0.3
  EXPECT_DOUBLE_EQ(score_fraction_above(t, 0.9), 0.0);
  const auto d = score_distribution(t, {0.0, 0.3, 0.9}, {200, 0.95, 1});
  ASSERT_EQ(d.size(), 3u);
  EXPECT_DOUBLE_EQ(d[1].point, 0.5);
  for (const auto& iv : d) {
    EXPECT_LE(iv.lo, iv.point);
    EXPECT_GE(iv.hi, iv.point);
  }
}

TEST(Metrics, PercentileMatchesNumpyLinear) {
  EXPECT_DOUBLE_EQ(detail::percentile({1, 2, 3, 4}, 25), 1.75);
  EXPECT_DOUBLE_EQ(detail::percentile({4, 3, 2, 1}, 100), 4.0);
  EXPECT_DOUBLE_EQ(detail::percentile({7}, 2.5), 7.0);
}

TEST(Metrics, DmcNormalization) {
  EXPECT_DOUBLE_EQ(normalize_score("cartpole-swingup", 500), 0.5);
  EXPECT_DOUBLE_EQ(normalize_score("ball_in_cup-catch", 1000), 1.0);
  EXPECT_TRUE(is_dmc_task("dog-run"));
  EXPECT_FALSE(is_dmc_task("mw-assembly"));
  EXPECT_DOUBLE_EQ(normalize_score("mw-assembly", 0.8), 0.8);
}

TEST(Metrics, IndicesAreInRangeAndRoughlyUniform) {
  detail::SplitMix64 rng(7);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) {
    const std::size_t k = rng.index(7);
    ASSERT_LT(k, 7u);
    ++counts[k];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);  // ~5 sigma of a binomial(70000, 1/7)
}

TEST(Metrics, BootstrapIsDeterministicPerSeedAndCollapsesOnConstantData) {
  const ScoreTable t = {{0.1, 0.5, 0.7}, {0.9, 0.3, 0.4}, {0.2, 0.8, 0.6}};
  const auto a = compute_aggregates(t, {300, 0.95, 42});
  const auto b = compute_aggregates(t, {300, 0.95, 42});
  const auto c = compute_aggregates(t, {300, 0.95, 43});
  EXPECT_EQ(a.iqm.lo, b.iqm.lo);
  EXPECT_EQ(a.mean.hi, b.mean.hi);
  EXPECT_TRUE(a.mean.lo != c.mean.lo || a.mean.hi != c.mean.hi);
  EXPECT_EQ(a.tasks, 3u);
  EXPECT_EQ(a.runs, 9u);
  for (const Interval* iv : {&a.median, &a.iqm, &a.mean, &a.optimality_gap}) {
    EXPECT_LT(iv->lo, iv->hi);
    EXPECT_LE(iv->lo, iv->point);
    EXPECT_GE(iv->hi, iv->point);
  }
  const auto k = compute_aggregates({{0.5, 0.5}, {0.5, 0.5}}, {100, 0.95, 1});
  EXPECT_DOUBLE_EQ(k.mean.lo, 0.5);
  EXPECT_DOUBLE_EQ(k.mean.hi, 0.5);
}

TEST(Metrics, BootstrapKeepsEachTaskInItsOwnStratum) {
  // Task 0 always scores 0, task 1 always 1: resampling within tasks can never mix them, so the
  // mean is exactly 0.5 in every replicate (a pooled bootstrap would spread it).
  const auto m = compute_aggregates({{0, 0, 0, 0}, {1, 1, 1, 1}}, {500, 0.95, 3});
  EXPECT_DOUBLE_EQ(m.mean.lo, 0.5);
  EXPECT_DOUBLE_EQ(m.mean.hi, 0.5);
}

TEST(Metrics, BootstrapCiCoversTheTrueMeanInSyntheticExperiments) {
  // 200 experiments, each 5 tasks x 20 runs with task means mu_t and noise sd 0.1: the true
  // aggregate mean is mean(mu_t). A 95% percentile interval should contain it in about 95% of
  // experiments, a little less in practice: the bootstrap's variance is the plug-in (n-1)/n one,
  // so with 20 runs per task the expected coverage is ~94% (with 10 runs it is ~92.5%, measured
  // over 2000 experiments). Require at least 90%, and less than 100% (an always-covering
  // interval would be too wide to be a 95% one).
  const double mu[] = {0.2, 0.35, 0.5, 0.65, 0.8};
  const double truth = 0.5;
  std::mt19937_64 gen(12345);
  std::normal_distribution<double> noise(0.0, 0.1);
  const MultiStat mean_stat = [](const ScoreTable& s, std::vector<double>& out) {
    out[0] = aggregate_mean(s);
  };
  int covered = 0;
  const int experiments = 200;
  for (int e = 0; e < experiments; ++e) {
    ScoreTable t(5);
    for (int k = 0; k < 5; ++k)
      for (int r = 0; r < 20; ++r) t[k].push_back(mu[k] + noise(gen));
    const auto iv = stratified_bootstrap(t, mean_stat, 1, {1000, 0.95, static_cast<std::uint64_t>(e)});
    covered += iv[0].lo <= truth && truth <= iv[0].hi ? 1 : 0;
  }
  EXPECT_GE(covered, 180) << covered << " of " << experiments << " intervals contain the true mean";
  EXPECT_LT(covered, experiments) << "intervals that always cover are too wide to be 95% intervals";
}

TEST(Metrics, RejectsEmptyTasks) {
  EXPECT_THROW(aggregate_mean({}), Error);
  EXPECT_THROW(aggregate_iqm({{0.5}, {}}), Error);
  EXPECT_THROW(aggregate_mean({{NAN}}), Error);
}

}  // namespace
}  // namespace lucid::report
