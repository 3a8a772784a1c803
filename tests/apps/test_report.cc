// `lucid report` on synthetic run folders: CSV parsing that tolerates live runs, the per-task
// tables' mean ± std, which runs enter the aggregates, and that every promised file is written.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lucid/error.h"
#include "report/files.h"
#include "report/reference.h"
#include "report/report.h"

namespace lucid::report {
namespace fs = std::filesystem;
namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("lucid_apps_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A run folder as `lucid train` writes it; returns at evaluation step k*freq are given.
void write_run(const fs::path& dir, const std::string& task, const std::string& agent, int seed,
               const std::vector<double>& returns, std::int64_t freq, bool finished) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.yaml") << "task: " << task << "\nagent: " << agent
                                     << "\nplanner: mppi\nseed: " << seed
                                     << "\nsteps: " << freq * static_cast<std::int64_t>(returns.size())
                                     << "\n";
  std::ofstream ev(dir / "eval.csv");
  ev << "step,episode,return,length,wall_time_s\n";
  for (std::size_t k = 0; k < returns.size(); ++k) {
    // Two episodes per evaluation, symmetric around the intended mean.
    ev << (k + 1) * freq << ",0," << returns[k] - 10 << ",500,1.0\n";
    ev << (k + 1) * freq << ",1," << returns[k] + 10 << ",500,2.0\n";
  }
  std::ofstream tr(dir / "train.csv");
  tr << "step,episode,return,length,steps_per_s,wall_time_s\n500,0,12.5,500,40.0,12.5\n";
  nlohmann::json s = {{"task", task},
                      {"agent", agent},
                      {"planner", "mppi"},
                      {"seed", seed},
                      {"model_size", 1},
                      {"steps", freq * static_cast<std::int64_t>(returns.size())},
                      {"status", finished ? "finished" : "running"},
                      {"last_step", freq * static_cast<std::int64_t>(returns.size())},
                      {"final_eval_return", returns.back()},
                      {"wall_time_s", 10.0},
                      {"steps_per_s", 40.0}};
  std::ofstream(dir / "summary.json") << s.dump();
}

TEST(ReportCsv, GroupsEpisodesAndSkipsPartialLines) {
  const std::string text =
      "step,episode,return,length,wall_time_s\n"
      "1000,0,100,500,1\n"
      "1000,1,300,500,2\n"
      "2000,0,bad,500,3\n"  // unparsable: skipped
      "2000,1,400\n"        // wrong width: skipped
      "2000,2,500,500,4\n"
      "3000,0,60";  // no newline: a live trainer is mid-write
  const auto pts = parse_eval_csv(text);
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_EQ(pts[0].step, 1000);
  EXPECT_DOUBLE_EQ(pts[0].mean_return, 200.0);
  EXPECT_EQ(pts[0].episodes, 2);
  EXPECT_EQ(pts[1].step, 2000);
  EXPECT_DOUBLE_EQ(pts[1].mean_return, 500.0);
  EXPECT_EQ(pts[1].episodes, 1);
}

TEST(ReportRuns, ReadsLayoutWhenNoFileNamesTheRunYet) {
  const fs::path root = fresh_dir("layout");
  const fs::path run = root / "walker-walk" / "bmpc-mppi" / "seed_3";
  fs::create_directories(run);
  std::ofstream(run / "eval.csv") << "step,episode,return,length,wall_time_s\n1000,0,42,500,1\n";
  const RunData r = read_run(run);
  EXPECT_EQ(r.task, "walker-walk");
  EXPECT_EQ(r.agent, "bmpc");
  EXPECT_EQ(r.planner, "mppi");
  EXPECT_EQ(r.seed, 3);
  EXPECT_FALSE(r.finished());
  EXPECT_EQ(r.last_step, 1000);
  ASSERT_TRUE(r.final_return().has_value());
  EXPECT_DOUBLE_EQ(*r.final_return(), 42.0);
  fs::remove_all(root);
}

TEST(ReportReference, BundledScoresLoadWithTaskAliases) {
  const auto refs = load_reference_scores(default_reference_file());
  EXPECT_EQ(refs.size(), 72u);  // 12 tasks x 2 algorithms x 3 budgets
  const auto cart = reference_for_task(refs, "cartpole-swingup");
  bool found = false;
  for (const auto& p : cart)
    if (p.algorithm == "tdmpc2" && p.step == 100000) {
      found = true;
      EXPECT_DOUBLE_EQ(p.mean_return, 839.4);
      ASSERT_TRUE(p.min_return && p.max_return);
      EXPECT_DOUBLE_EQ(*p.min_return, 790);
    }
  EXPECT_TRUE(found);
  EXPECT_EQ(reference_for_task(refs, "cup-catch").size(), 6u);
  EXPECT_EQ(reference_for_task(refs, "ball_in_cup-catch").size(), 6u);
  EXPECT_EQ(canonical_task("cartpole-swingup_sparse"), canonical_task("cartpole-swingup-sparse"));
}

TEST(ReportReference, MalformedLineNamesIt) {
  const fs::path root = fresh_dir("refbad");
  std::ofstream(root / "r.csv")
      << "# c\nalgorithm,task,step,return,min,max\ntdmpc2,x,100000,5,,\ntdmpc2,x,abc,5,,\n";
  try {
    load_reference_scores(root / "r.csv");
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("r.csv:4"), std::string::npos) << e.what();
  }
  fs::remove_all(root);
}

TEST(Report, WritesTablesAggregatesAndFigures) {
  const fs::path root = fresh_dir("suite");
  const fs::path s = root / "mysuite";
  // cartpole: seeds return 600 / 800 at the last of two evaluations; reacher: 900 / 700.
  write_run(s / "cartpole-swingup" / "tdmpc2-mppi" / "seed_1", "cartpole-swingup", "tdmpc2", 1, {200, 600},
            1000, true);
  write_run(s / "cartpole-swingup" / "tdmpc2-mppi" / "seed_2", "cartpole-swingup", "tdmpc2", 2, {400, 800},
            1000, true);
  write_run(s / "reacher-easy" / "tdmpc2-mppi" / "seed_1", "reacher-easy", "tdmpc2", 1, {300, 900}, 1000,
            true);
  write_run(s / "reacher-easy" / "tdmpc2-mppi" / "seed_2", "reacher-easy", "tdmpc2", 2, {100, 700}, 1000,
            true);
  // A run still going: in the tables, not in the aggregates.
  write_run(s / "reacher-easy" / "tdmpc2-mppi" / "seed_3", "reacher-easy", "tdmpc2", 3, {50}, 1000, false);
  // A test-time evaluation of seed 1's cartpole run with another planner.
  {
    const fs::path t = s / "cartpole-swingup" / "tdmpc2-mppi" / "seed_1" / "test_dream-mpc";
    fs::create_directories(t);
    std::ofstream(t / "eval.csv")
        << "step,episode,return,length,wall_time_s\n2000,0,650,500,1\n2000,1,750,500,1\n";
    std::ofstream(t / "summary.json") << R"({"status":"finished","final_eval_return":700})";
  }

  std::ostringstream log;
  ReportOptions o;
  o.bootstrap_reps = 300;
  o.log = &log;
  ASSERT_EQ(run_report(s, o), 0) << log.str();
  const fs::path out = s / "report";
  for (const char* f :
       {"per_task.csv", "per_task.json", "final_scores.csv", "aggregates.csv", "aggregates.json",
        "score_distribution.csv", "aggregates.svg", "score_distribution.svg", "curves_cartpole-swingup.svg",
        "curves_reacher-easy.svg", "index.html"})
    EXPECT_TRUE(fs::exists(out / f)) << f;

  // per-task table: cartpole at step 2000 = mean(600, 800) = 700, sample std = 141.42.
  const auto per_task = nlohmann::json::parse(*read_text(out / "per_task.json"));
  const auto& cp = per_task["cartpole-swingup"]["tdmpc2-mppi"]["points"];
  ASSERT_EQ(cp.size(), 2u);
  EXPECT_EQ(cp[1]["step"], 2000);
  EXPECT_NEAR(cp[1]["mean"].get<double>(), 700.0, 1e-9);
  EXPECT_NEAR(cp[1]["std"].get<double>(), std::sqrt(2.0) * 100.0, 1e-9);
  EXPECT_EQ(cp[1]["seeds"], 2);
  // reacher at step 1000 has three seeds (300, 100, 50), at 2000 two.
  const auto& re = per_task["reacher-easy"]["tdmpc2-mppi"]["points"];
  EXPECT_EQ(re[0]["seeds"], 3);
  EXPECT_NEAR(re[0]["mean"].get<double>(), 150.0, 1e-9);
  EXPECT_TRUE(per_task["cartpole-swingup"]["tdmpc2-mppi / test dream-mpc"]["test_time"].get<bool>());

  // aggregates over finished runs only: normalized 0.6, 0.8 | 0.9, 0.7 -> mean 0.75, IQM 0.75.
  const auto agg = nlohmann::json::parse(*read_text(out / "aggregates.json"));
  const auto& m = agg["methods"]["tdmpc2-mppi"];
  EXPECT_EQ(m["runs"], 4);
  EXPECT_NEAR(m["mean"]["point"].get<double>(), 0.75, 1e-9);
  EXPECT_NEAR(m["iqm"]["point"].get<double>(), 0.75, 1e-9);
  EXPECT_NEAR(m["median"]["point"].get<double>(), 0.75, 1e-9);
  EXPECT_NEAR(m["optimality_gap"]["point"].get<double>(), 0.25, 1e-9);
  EXPECT_LE(m["mean"]["lo"].get<double>(), 0.75);
  EXPECT_GE(m["mean"]["hi"].get<double>(), 0.75);
  EXPECT_EQ(agg["methods"]["tdmpc2-mppi / test dream-mpc"]["runs"], 1);

  // Figures are complete SVG documents with titles, axis labels and a legend.
  const std::string curve = *read_text(out / "curves_cartpole-swingup.svg");
  EXPECT_EQ(curve.rfind("<?xml", 0), 0u);
  EXPECT_NE(curve.find("</svg>"), std::string::npos);
  EXPECT_NE(curve.find(">cartpole-swingup<"), std::string::npos);
  EXPECT_NE(curve.find(">Agent steps<"), std::string::npos);
  EXPECT_NE(curve.find(">Episode return<"), std::string::npos);
  EXPECT_NE(curve.find("TD-MPC2 (published)"), std::string::npos);
  EXPECT_NE(curve.find("BMPC (published)"), std::string::npos);
  const std::string html = *read_text(out / "index.html");
  EXPECT_NE(html.find("curves_reacher-easy.svg"), std::string::npos);
  EXPECT_NE(html.find("aggregates.svg"), std::string::npos);
  // No temporary file is left behind.
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos);

  // A single run folder is a report of its own (the run and its test-time evaluation).
  std::ostringstream single_log;
  ReportOptions single = o;
  single.log = &single_log;
  single.out_dir = root / "single";
  ASSERT_EQ(run_report(s / "cartpole-swingup" / "tdmpc2-mppi" / "seed_1", single), 0);
  EXPECT_NE(single_log.str().find("2 runs (2 finished), 1 tasks"), std::string::npos) << single_log.str();
  EXPECT_TRUE(fs::exists(root / "single" / "curves_cartpole-swingup.svg"));

  // With include_unfinished, the running seed's last evaluation (50) enters the aggregates.
  ReportOptions all = o;
  all.include_unfinished = true;
  const ReportResult res = build_report(s, all);
  bool seen = false;
  for (const auto& a : res.aggregates)
    if (a.method == "tdmpc2-mppi") {
      seen = true;
      EXPECT_EQ(a.metrics.runs, 5u);
    }
  EXPECT_TRUE(seen);
  fs::remove_all(root);
}

TEST(Report, EmptyFolderReportsNothingFound) {
  const fs::path root = fresh_dir("empty");
  std::ostringstream log;
  ReportOptions o;
  o.log = &log;
  EXPECT_EQ(run_report(root, o), 1);
  EXPECT_NE(log.str().find("no run folders"), std::string::npos);
  EXPECT_THROW(run_report(root / "missing", o), IoError);
  fs::remove_all(root);
}

}  // namespace
}  // namespace lucid::report
