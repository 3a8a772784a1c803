// Hand-written SVG figures for `lucid report`: no plotting library, just the few chart kinds the
// report needs, each with a title, labelled axes with "nice" ticks, a grid and a legend.
//
// LinePlot   — lines with optional shaded [lo, hi] bands (learning curves, score distributions)
//              plus point markers with optional error bars (published reference scores).
// interval_plot_svg — rliable's aggregate-interval figure: one panel per metric, one row per
//              method, a shaded bar for the CI and a tick for the point estimate.
// Output is a complete standalone SVG document (UTF-8 string); nothing is written to disk here.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace lucid::report {

// Colour-blind-safe palette (Okabe & Ito 2008), cycled by series index.
const std::string& palette_color(std::size_t i);

struct LineSeries {
  std::string label, color;
  std::vector<double> x, y;
  std::vector<double> lo, hi;  // band; empty for none, else same length as x
  bool dashed = false;
};

struct PointSeries {
  std::string label, color;
  char shape = 'd';  // 'd' diamond, 's' square, 'o' circle, 't' triangle
  std::vector<double> x, y;
  std::vector<double> lo, hi;  // error bars; NaN entries (or empty vectors) draw none
};

enum class TickFormat { kPlain, kSteps /* 100k, 1.5M */, kPercent };

class LinePlot {
 public:
  LinePlot(std::string title, std::string x_label, std::string y_label)
      : title_(std::move(title)), x_label_(std::move(x_label)), y_label_(std::move(y_label)) {}
  void add_line(LineSeries s) { lines_.push_back(std::move(s)); }
  void add_points(PointSeries s) { points_.push_back(std::move(s)); }
  void set_x_range(double lo, double hi) { x_range_ = {lo, hi}; }
  void set_y_range(double lo, double hi) { y_range_ = {lo, hi}; }
  void set_x_format(TickFormat f) { x_format_ = f; }
  void set_y_format(TickFormat f) { y_format_ = f; }
  // A line of text under the title (e.g. "3 seeds, shaded: ±1 std").
  void set_subtitle(std::string s) { subtitle_ = std::move(s); }
  // A narrow panel right of the plot that shares its y axis and has categorical x positions
  // (a point's x is its category index). Published scores at 100k/500k/1M steps go there, so a
  // short run's curve is not squashed by an x axis stretched to 1M.
  void set_side_panel(std::string title, std::vector<std::string> categories) {
    side_title_ = std::move(title);
    side_categories_ = std::move(categories);
  }
  void add_side_points(PointSeries s) { side_points_.push_back(std::move(s)); }
  std::string svg(int width = 800, int height = 440) const;

 private:
  std::string title_, x_label_, y_label_, subtitle_;
  std::vector<LineSeries> lines_;
  std::vector<PointSeries> points_;
  std::string side_title_;
  std::vector<std::string> side_categories_;
  std::vector<PointSeries> side_points_;
  std::optional<std::pair<double, double>> x_range_, y_range_;
  TickFormat x_format_ = TickFormat::kPlain, y_format_ = TickFormat::kPlain;
};

struct IntervalRow {
  std::string method, color;
  std::vector<double> point, lo, hi;  // one entry per metric
};

std::string interval_plot_svg(const std::string& title, const std::vector<std::string>& metrics,
                              const std::vector<IntervalRow>& rows, const std::string& x_label);

// "Nice" tick positions covering [lo, hi] with about `target` ticks (1, 2, 2.5, 5 x 10^k steps).
std::vector<double> nice_ticks(double lo, double hi, int target = 6);
std::string format_tick(double v, TickFormat f);

}  // namespace lucid::report
