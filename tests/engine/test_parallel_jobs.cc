// kernels::parallel_jobs, free_threads and block_range (lucid/kernels/threading.h): every job runs
// exactly once, kernels inside a job see one free thread, a job's exception comes back to the
// caller after the others ran, and GEMMs and LayerNorm run inside jobs give the floats they give
// outside (row blocks of a GEMM and the LayerNorm backward's per-thread partial sums are the two
// places a thread count could leak into results).
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "lucid/engine/rng.h"
#include "lucid/kernels/layernorm.h"
#include "lucid/kernels/threading.h"

namespace {

using lucid::kernels::block_range;
using lucid::kernels::free_threads;
using lucid::kernels::parallel_jobs;
using lucid::kernels::set_num_threads;

class ParallelJobs : public ::testing::Test {
 protected:
  void SetUp() override { set_num_threads(2); }
  void TearDown() override { set_num_threads(1); }
};

TEST_F(ParallelJobs, RunsEveryJobOnceWithOneFreeThreadInside) {
  EXPECT_EQ(free_threads(), 2);
  for (const int n : {0, 1, 2, 7}) {
    std::vector<std::atomic<int>> runs(static_cast<std::size_t>(n));
    std::atomic<int> max_free{0};
    parallel_jobs(n, [&](int i) {
      runs[static_cast<std::size_t>(i)].fetch_add(1);
      max_free = std::max(max_free.load(), free_threads());
    });
    for (int i = 0; i < n; ++i) EXPECT_EQ(runs[static_cast<std::size_t>(i)].load(), 1) << "job " << i;
    if (n > 1) {
      EXPECT_EQ(max_free.load(), 1) << "a job's kernels must not fork again";
    }
  }
  EXPECT_EQ(free_threads(), 2) << "outside the jobs both threads are free again";
}

TEST_F(ParallelJobs, RethrowsAJobsErrorAfterTheOthersRan) {
  std::atomic<int> ran{0};
  EXPECT_THROW(parallel_jobs(4,
                             [&](int i) {
                               ran.fetch_add(1);
                               if (i == 2) throw std::runtime_error("job 2 failed");
                             }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 4);
  // One thread: the same contract, run in order.
  set_num_threads(1);
  EXPECT_THROW(parallel_jobs(2,
                             [](int i) {
                               if (i == 1) throw std::invalid_argument("x");
                             }),
               std::invalid_argument);
}

TEST_F(ParallelJobs, BlockRangesCoverTheRangeOnAlignedBoundaries) {
  for (const int n : {0, 5, 16, 100, 768, 1025}) {
    for (const int parts : {1, 2, 3, 8}) {
      int next = 0;
      for (int i = 0; i < parts; ++i) {
        const auto [b, e] = block_range(n, parts, i, 16);
        EXPECT_EQ(b, next) << "n " << n << " parts " << parts << " block " << i;
        EXPECT_LE(b, e);
        if (e < n) {
          EXPECT_EQ(e % 16, 0) << "a block ends inside a 16-row panel";
        }
        next = e;
      }
      EXPECT_EQ(next, n) << "n " << n << " parts " << parts;
    }
  }
  EXPECT_EQ(block_range(768, 2, 0, 16), (std::pair<int, int>{0, 384})) << "equal halves when they align";
}

// LayerNorm's backward sums dgamma/dbeta in per-thread partials: inside a job it must take all rows
// on one thread, giving the one-thread result exactly, whatever lucid's thread count.
TEST_F(ParallelJobs, LayerNormBackwardInsideAJobEqualsOneThread) {
  const int rows = 256, cols = 512;  // above the parallel grain
  lucid::Rng rng(5);
  std::vector<float> x(rows * cols), gy(rows * cols), gamma(cols), beta(cols), mean(rows), rstd(rows),
      y(rows * cols);
  rng.normal(x.data(), x.size());
  rng.normal(gy.data(), gy.size());
  rng.normal(gamma.data(), gamma.size());
  rng.normal(beta.data(), beta.size());
  lucid::kernels::layernorm_forward_cpu(x.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                                        rstd.data(), rows, cols, 1e-5f, true);
  auto backward = [&](std::vector<float>& gx, std::vector<float>& dg, std::vector<float>& db) {
    gx.assign(rows * cols, 0.f);
    dg.assign(cols, 0.f);
    db.assign(cols, 0.f);
    lucid::kernels::layernorm_backward_cpu(x.data(), gamma.data(), beta.data(), mean.data(), rstd.data(),
                                           gy.data(), gx.data(), dg.data(), db.data(), rows, cols, true);
  };
  set_num_threads(1);
  std::vector<float> gx1, dg1, db1;
  backward(gx1, dg1, db1);
  set_num_threads(2);
  std::vector<std::vector<float>> gx(2), dg(2), db(2);
  parallel_jobs(2, [&](int j) { backward(gx[j], dg[j], db[j]); });
  for (int j = 0; j < 2; ++j) {
    EXPECT_EQ(gx[j], gx1) << "job " << j;
    EXPECT_EQ(dg[j], dg1) << "job " << j;
    EXPECT_EQ(db[j], db1) << "job " << j;
  }
}

}  // namespace
