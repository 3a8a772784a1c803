// `lucid report`: runs -> curves -> aggregates -> files. See report.h for what is written.
#include "report/report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "lucid/error.h"
#include "report/files.h"
#include "report/reference.h"
#include "report/svg_plot.h"

namespace lucid::report {
namespace fs = std::filesystem;
namespace {

double sample_std(const std::vector<double>& v, double mean) {
  if (v.size() < 2) return 0.0;
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

// File-name-safe form of a task or method name.
std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')
      out += c;
    else if (!out.empty() && out.back() != '_')
      out += '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "unnamed" : out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// Methods in a stable order with a stable colour each, shared by every figure.
struct MethodColors {
  std::map<std::string, std::string> color;
  explicit MethodColors(const std::vector<RunData>& runs) {
    std::set<std::string> names;
    for (const auto& r : runs) names.insert(r.method());
    std::size_t i = 0;
    for (const auto& n : names) color[n] = palette_color(i++);
  }
};

std::string now_utc() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

bool eligible(const RunData& r, const ReportOptions& o) {
  return r.final_return().has_value() && (r.finished() || o.include_unfinished);
}

std::string curves_svg(const std::string& task, const std::vector<TaskCurve>& curves,
                       const std::vector<ReferencePoint>& refs, const MethodColors& colors) {
  int max_seeds = 0;
  for (const auto& c : curves)
    for (const auto& p : c.points) max_seeds = std::max(max_seeds, p.seeds);
  LinePlot plot(task, "Agent steps", "Episode return");
  plot.set_subtitle("lucid: mean over " + std::to_string(max_seeds) + (max_seeds == 1 ? " seed" : " seeds") +
                    ", shaded ±1 std over seeds" +
                    (refs.empty() ? std::string() : "; published TD-MPC2 bars: min–max over 3 seeds"));
  plot.set_x_format(TickFormat::kSteps);
  double x_max = 0;
  for (const auto& c : curves) {
    const std::string& color = colors.color.at(c.method);
    if (c.test_time) {
      PointSeries ps{c.method, color, 'o', {}, {}, {}, {}};
      for (const auto& p : c.points) {
        ps.x.push_back(static_cast<double>(p.step));
        ps.y.push_back(p.mean);
        ps.lo.push_back(p.mean - p.std);
        ps.hi.push_back(p.mean + p.std);
      }
      plot.add_points(std::move(ps));
    } else {
      LineSeries ls{c.method, color, {}, {}, {}, {}, false};
      for (const auto& p : c.points) {
        ls.x.push_back(static_cast<double>(p.step));
        ls.y.push_back(p.mean);
        ls.lo.push_back(p.mean - p.std);
        ls.hi.push_back(p.mean + p.std);
      }
      plot.add_line(std::move(ls));
    }
    for (const auto& p : c.points) x_max = std::max(x_max, static_cast<double>(p.step));
  }
  plot.set_x_range(0, std::max(x_max, 1.0));
  // DMC returns lie in [0, 1000]: a fixed axis makes tasks comparable at a glance.
  if (is_dmc_task(task)) plot.set_y_range(0, 1000);
  if (!refs.empty()) {
    // Published scores at fixed budgets, in the side panel (categorical 100k / 500k / 1M).
    std::vector<std::int64_t> steps;
    for (const auto& r : refs) steps.push_back(r.step);
    std::sort(steps.begin(), steps.end());
    steps.erase(std::unique(steps.begin(), steps.end()), steps.end());
    std::vector<std::string> cats;
    for (auto s : steps) cats.push_back(format_tick(static_cast<double>(s), TickFormat::kSteps));
    plot.set_side_panel("published", cats);
    std::vector<std::string> algos;
    for (const auto& r : refs)
      if (std::find(algos.begin(), algos.end(), r.algorithm) == algos.end()) algos.push_back(r.algorithm);
    const double n_alg = static_cast<double>(algos.size());
    for (std::size_t a = 0; a < algos.size(); ++a) {
      const bool tdmpc2 = algos[a] == "tdmpc2";
      PointSeries ps{(tdmpc2               ? std::string("TD-MPC2")
                      : algos[a] == "bmpc" ? std::string("BMPC")
                                           : algos[a]) +
                         " (published)",
                     tdmpc2   ? "#7f7f7f"
                     : a == 1 ? "#bcbd22"
                              : "#17becf",
                     tdmpc2 ? 'd' : 's',
                     {},
                     {},
                     {},
                     {}};
      // Offsets keep two algorithms at the same budget side by side rather than on top of each other.
      const double offset = n_alg > 1 ? (static_cast<double>(a) - (n_alg - 1) / 2) * 0.28 : 0.0;
      for (const auto& r : refs) {
        if (r.algorithm != algos[a]) continue;
        const auto idx = std::find(steps.begin(), steps.end(), r.step) - steps.begin();
        ps.x.push_back(static_cast<double>(idx) + offset);
        ps.y.push_back(r.mean_return);
        ps.lo.push_back(r.min_return.value_or(NAN));
        ps.hi.push_back(r.max_return.value_or(NAN));
      }
      plot.add_side_points(std::move(ps));
    }
  }
  return plot.svg(1000, 460);
}

std::string html_page(const fs::path& folder, const ReportResult& res, const std::vector<std::string>& tasks,
                      const std::map<std::string, std::string>& curve_files, const ReportOptions& o) {
  std::size_t finished = 0;
  for (const auto& r : res.runs) finished += r.finished() ? 1 : 0;
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lucid report: "
    << xml_escape(folder.filename().string()) << "</title>\n"
    << "<style>body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px;max-width:1200px}"
       "table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px "
       "8px;text-align:right}"
       "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:8px 0}"
       ".note{color:#555;font-size:90%}</style></head><body>\n";
  h << "<h1>lucid report</h1>\n<p>Folder <code>" << xml_escape(fs::absolute(folder).string())
    << "</code>: " << res.runs.size() << " run folders (" << finished << " finished). Generated " << now_utc()
    << ".</p>\n";

  h << "<h2>Aggregate metrics</h2>\n";
  if (res.aggregates.empty()) {
    h << "<p class=\"note\">No eligible runs yet: aggregates use "
      << (o.include_unfinished ? "runs with at least one evaluation" : "finished runs")
      << " of DMC tasks.</p>\n";
  } else {
    h << "<p class=\"note\">Normalized score = return / 1000 (DMC). Point estimate and "
      << fmt(o.confidence * 100, 3) << "% stratified bootstrap CI (" << o.bootstrap_reps
      << " replicates), as in "
         "rliable.</p>\n<table><tr><th>method</th><th>tasks</th><th>runs</th><th>median</th>"
         "<th>IQM</th><th>mean</th><th>optimality gap</th></tr>\n";
    for (const auto& a : res.aggregates) {
      const auto cell = [](const Interval& i) {
        return fmt(i.point, 3) + " [" + fmt(i.lo, 3) + ", " + fmt(i.hi, 3) + "]";
      };
      h << "<tr><td>" << xml_escape(a.method) << "</td><td>" << a.metrics.tasks << "</td><td>"
        << a.metrics.runs << "</td><td>" << cell(a.metrics.median) << "</td><td>" << cell(a.metrics.iqm)
        << "</td><td>" << cell(a.metrics.mean) << "</td><td>" << cell(a.metrics.optimality_gap)
        << "</td></tr>\n";
    }
    h << "</table>\n<img src=\"aggregates.svg\" alt=\"aggregate metrics with confidence intervals\">\n"
      << "<img src=\"score_distribution.svg\" alt=\"score distributions\">\n";
  }

  h << "<h2>Final return per task</h2>\n<p class=\"note\">Mean ± std over seeds of each run's last "
       "evaluation "
       "(all runs, finished or not; n = seeds).</p>\n<table><tr><th>task</th>";
  std::vector<std::string> methods;
  for (const auto& c : res.curves)
    if (std::find(methods.begin(), methods.end(), c.method) == methods.end()) methods.push_back(c.method);
  std::sort(methods.begin(), methods.end());
  for (const auto& m : methods) h << "<th>" << xml_escape(m) << "</th>";
  h << "</tr>\n";
  for (const auto& t : tasks) {
    h << "<tr><td>" << xml_escape(t) << "</td>";
    for (const auto& m : methods) {
      std::vector<double> finals;
      for (const auto& r : res.runs)
        if (r.task == t && r.method() == m && r.final_return()) finals.push_back(*r.final_return());
      if (finals.empty()) {
        h << "<td>–</td>";
        continue;
      }
      double mean = 0;
      for (double v : finals) mean += v;
      mean /= static_cast<double>(finals.size());
      h << "<td>" << fmt(mean, 4) << " ± " << fmt(sample_std(finals, mean), 3) << " (n=" << finals.size()
        << ")</td>";
    }
    h << "</tr>\n";
  }
  h << "</table>\n<h2>Learning curves</h2>\n";
  for (const auto& t : tasks) {
    auto it = curve_files.find(t);
    if (it != curve_files.end())
      h << "<img src=\"" << xml_escape(it->second) << "\" alt=\"learning curve " << xml_escape(t) << "\">\n";
  }
  h << "<h2>Data</h2>\n<ul>";
  for (const char* f : {"per_task.csv", "per_task.json", "final_scores.csv", "aggregates.csv",
                        "aggregates.json", "score_distribution.csv"})
    h << "<li><a href=\"" << f << "\">" << f << "</a></li>";
  h << "</ul>\n</body></html>\n";
  return h.str();
}

// PNG copies of the figures through rsvg-convert when it is installed (temp + rename, like
// every other file); the SVGs stay the primary output.
void write_pngs(std::vector<fs::path>& files, std::ostream& log) {
  if (std::system("command -v rsvg-convert >/dev/null 2>&1") != 0) {
    log << "report: rsvg-convert not found (Debian librsvg2-bin); figures are SVG only\n";
    return;
  }
  const std::vector<fs::path> written(files.begin(), files.end());
  for (const auto& svg : written) {
    if (svg.extension() != ".svg") continue;
    fs::path png = svg;
    png.replace_extension(".png");
    const fs::path tmp = png.string() + ".tmp";
    const std::string cmd = "rsvg-convert -b white -o '" + tmp.string() + "' '" + svg.string() + "'";
    if (svg.string().find('\'') == std::string::npos && std::system(cmd.c_str()) == 0) {
      fs::rename(tmp, png);
      files.push_back(png);
    } else {
      fs::remove(tmp);
      log << "report: could not render " << png.string() << "\n";
    }
  }
}

}  // namespace

std::vector<TaskCurve> build_curves(const std::vector<RunData>& runs) {
  // (task, method) -> step -> returns over seeds
  std::map<std::pair<std::string, std::string>, std::map<std::int64_t, std::vector<double>>> acc;
  std::map<std::pair<std::string, std::string>, bool> test_time;
  for (const auto& r : runs) {
    const auto key = std::make_pair(r.task, r.method());
    test_time[key] = !r.test_planner.empty();
    auto& by_step = acc[key];
    if (r.test_planner.empty()) {
      for (const auto& e : r.evals) by_step[e.step].push_back(e.mean_return);
    } else if (auto f = r.final_return()) {
      // A test-time evaluation is one number per seed, placed at the end of training.
      std::int64_t step = r.evals.empty() ? 0 : r.evals.back().step;
      if (step == 0) step = r.steps;
      by_step[step].push_back(*f);
    }
  }
  std::vector<TaskCurve> curves;
  for (const auto& [key, by_step] : acc) {
    TaskCurve c{key.first, key.second, {}, test_time[key]};
    for (const auto& [step, v] : by_step) {
      double mean = 0;
      for (double x : v) mean += x;
      mean /= static_cast<double>(v.size());
      c.points.push_back({step, mean, sample_std(v, mean), static_cast<int>(v.size())});
    }
    curves.push_back(std::move(c));
  }
  return curves;
}

ReportResult build_report(const fs::path& folder, const ReportOptions& o) {
  ReportResult res;
  res.runs = discover_runs(folder);
  res.curves = build_curves(res.runs);
  res.taus = linspace(0.0, 1.0, std::max(2, o.tau_points));

  // method -> task -> normalized final scores of eligible runs (DMC tasks only).
  std::map<std::string, std::map<std::string, std::vector<double>>> table;
  for (const auto& r : res.runs)
    if (eligible(r, o) && is_dmc_task(r.task))
      table[r.method()][r.task].push_back(normalize_score(r.task, *r.final_return()));
  BootstrapOptions b{o.bootstrap_reps, o.confidence, o.seed};
  for (const auto& [method, by_task] : table) {
    ScoreTable st;
    ReportResult::MethodAggregate agg;
    agg.method = method;
    for (const auto& [task, scores] : by_task) {
      st.push_back(scores);
      agg.tasks.push_back(task);
    }
    agg.metrics = compute_aggregates(st, b);
    agg.distribution = score_distribution(st, res.taus, b);
    res.aggregates.push_back(std::move(agg));
  }
  return res;
}

int run_report(const fs::path& folder, const ReportOptions& options) {
  std::ostream& log = options.log ? *options.log : std::cout;
  ReportResult res = build_report(folder, options);
  if (res.runs.empty()) {
    log << "report: no run folders (config.yaml, eval.csv or summary.json) under " << folder << "\n";
    return 1;
  }
  const fs::path out = options.out_dir.empty() ? folder / "report" : options.out_dir;
  fs::create_directories(out);
  const auto write = [&](const std::string& name, const std::string& content) {
    write_text_atomic(out / name, content);
    res.files.push_back(out / name);
  };

  std::vector<std::string> tasks;
  for (const auto& r : res.runs)
    if (std::find(tasks.begin(), tasks.end(), r.task) == tasks.end()) tasks.push_back(r.task);

  // ---- per-task tables ----
  {
    std::ostringstream csv;
    csv << "task,method,step,mean_return,std_return,seeds,mean_normalized\n";
    nlohmann::json j = nlohmann::json::object();
    for (const auto& c : res.curves) {
      nlohmann::json pts = nlohmann::json::array();
      for (const auto& p : c.points) {
        const double norm = normalize_score(c.task, p.mean);
        csv << csv_field(c.task) << "," << csv_field(c.method) << "," << p.step << "," << fmt(p.mean, 8)
            << "," << fmt(p.std, 8) << "," << p.seeds << "," << fmt(norm, 8) << "\n";
        pts.push_back({{"step", p.step},
                       {"mean", p.mean},
                       {"std", p.std},
                       {"seeds", p.seeds},
                       {"mean_normalized", norm}});
      }
      j[c.task][c.method] = {{"test_time", c.test_time}, {"points", pts}};
    }
    write("per_task.csv", csv.str());
    write("per_task.json", j.dump(2) + "\n");
  }
  {
    std::ostringstream csv;
    csv << "task,method,seed,status,last_step,final_return,normalized,folder\n";
    for (const auto& r : res.runs) {
      const auto f = r.final_return();
      csv << csv_field(r.task) << "," << csv_field(r.method()) << "," << r.seed << ","
          << (r.status.empty() ? "unknown" : r.status) << "," << r.last_step << "," << (f ? fmt(*f, 8) : "")
          << "," << (f ? fmt(normalize_score(r.task, *f), 8) : "") << "," << csv_field(r.dir.string())
          << "\n";
    }
    write("final_scores.csv", csv.str());
  }

  // ---- aggregates ----
  {
    std::ostringstream csv, dist;
    csv << "method,metric,point,lo,hi,tasks,runs\n";
    dist << "method,tau,fraction,lo,hi\n";
    nlohmann::json j = {{"normalization", "DMC: return / 1000"},
                        {"confidence", options.confidence},
                        {"bootstrap_reps", options.bootstrap_reps},
                        {"bootstrap", "stratified over runs within each task, percentile interval"},
                        {"seed", options.seed},
                        {"include_unfinished", options.include_unfinished},
                        {"methods", nlohmann::json::object()}};
    for (const auto& a : res.aggregates) {
      const std::pair<const char*, const Interval*> metrics[] = {
          {"median", &a.metrics.median},
          {"iqm", &a.metrics.iqm},
          {"mean", &a.metrics.mean},
          {"optimality_gap", &a.metrics.optimality_gap}};
      nlohmann::json m = {{"tasks", a.tasks}, {"runs", a.metrics.runs}};
      for (const auto& [name, iv] : metrics) {
        csv << csv_field(a.method) << "," << name << "," << fmt(iv->point, 8) << "," << fmt(iv->lo, 8) << ","
            << fmt(iv->hi, 8) << "," << a.metrics.tasks << "," << a.metrics.runs << "\n";
        m[name] = {{"point", iv->point}, {"lo", iv->lo}, {"hi", iv->hi}};
      }
      nlohmann::json d = nlohmann::json::array();
      for (std::size_t i = 0; i < res.taus.size(); ++i) {
        const Interval& iv = a.distribution[i];
        dist << csv_field(a.method) << "," << fmt(res.taus[i], 6) << "," << fmt(iv.point, 8) << ","
             << fmt(iv.lo, 8) << "," << fmt(iv.hi, 8) << "\n";
        d.push_back({{"tau", res.taus[i]}, {"fraction", iv.point}, {"lo", iv.lo}, {"hi", iv.hi}});
      }
      m["score_distribution"] = d;
      j["methods"][a.method] = m;
    }
    write("aggregates.csv", csv.str());
    write("aggregates.json", j.dump(2) + "\n");
    write("score_distribution.csv", dist.str());
  }

  // ---- figures ----
  const MethodColors colors(res.runs);
  std::vector<ReferencePoint> refs;
  if (options.references) {
    const fs::path rf = options.reference_file.empty() ? default_reference_file() : options.reference_file;
    if (fs::exists(rf))
      refs = load_reference_scores(rf);
    else
      log << "report: reference scores " << rf << " not found; curves are drawn without them\n";
  }
  std::map<std::string, std::string> curve_files;
  for (const auto& t : tasks) {
    std::vector<TaskCurve> tc;
    for (const auto& c : res.curves)
      if (c.task == t) tc.push_back(c);
    const std::string name = "curves_" + slug(t) + ".svg";
    write(name, curves_svg(t, tc, reference_for_task(refs, t), colors));
    curve_files[t] = name;
  }
  if (!res.aggregates.empty()) {
    std::vector<IntervalRow> rows;
    for (const auto& a : res.aggregates) {
      const Interval* m[] = {&a.metrics.median, &a.metrics.iqm, &a.metrics.mean, &a.metrics.optimality_gap};
      IntervalRow row{a.method + " (" + std::to_string(a.metrics.tasks) + " tasks)",
                      colors.color.at(a.method),
                      {},
                      {},
                      {}};
      for (const Interval* iv : m) {
        row.point.push_back(iv->point);
        row.lo.push_back(iv->lo);
        row.hi.push_back(iv->hi);
      }
      rows.push_back(std::move(row));
    }
    write("aggregates.svg",
          interval_plot_svg(
              "Aggregate metrics (" + fmt(options.confidence * 100, 3) + "% stratified bootstrap CIs)",
              {"Median", "IQM", "Mean", "Optimality Gap"}, rows,
              "Normalized score (DMC: return / 1000); optimality gap: lower is better"));
    LinePlot plot("Score distributions", "Normalized score τ (DMC: return / 1000)",
                  "Fraction of runs with score > τ");
    plot.set_subtitle("Shaded: " + fmt(options.confidence * 100, 3) + "% stratified bootstrap CI");
    for (const auto& a : res.aggregates) {
      LineSeries ls{a.method, colors.color.at(a.method), res.taus, {}, {}, {}, false};
      for (const auto& iv : a.distribution) {
        ls.y.push_back(iv.point);
        ls.lo.push_back(iv.lo);
        ls.hi.push_back(iv.hi);
      }
      plot.add_line(std::move(ls));
    }
    plot.set_x_range(0, 1);
    plot.set_y_range(0, 1);
    write("score_distribution.svg", plot.svg(900, 440));
  }
  write("index.html", html_page(folder, res, tasks, curve_files, options));
  if (options.png) write_pngs(res.files, log);

  std::size_t finished = 0, other_domain = 0;
  for (const auto& r : res.runs)
    finished += r.finished() ? 1 : 0, other_domain += is_dmc_task(r.task) ? 0 : 1;
  if (other_domain > 0)
    log << "report: " << other_domain << " runs of non-DMC tasks are in the tables but not in the aggregates "
        << "(no score normalization is defined for their domain)\n";
  log << "report: " << res.runs.size() << " runs (" << finished << " finished), " << tasks.size()
      << " tasks -> " << (out / "index.html").string() << "\n";
  for (const auto& a : res.aggregates)
    log << "  " << a.method << ": IQM " << fmt(a.metrics.iqm.point, 3) << " [" << fmt(a.metrics.iqm.lo, 3)
        << ", " << fmt(a.metrics.iqm.hi, 3) << "], mean " << fmt(a.metrics.mean.point, 3) << " over "
        << a.metrics.tasks << " tasks / " << a.metrics.runs << " runs\n";
  return 0;
}

}  // namespace lucid::report
