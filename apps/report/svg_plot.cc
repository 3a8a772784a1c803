// SVG figure writer; see svg_plot.h. Coordinates: data -> pixels by an affine map per axis; the
// plot area is clipped so bands and error bars never spill over the axes or the legend.
#include "report/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "report/files.h"

namespace lucid::report {
namespace {

constexpr const char* kFont = "DejaVu Sans, Helvetica, Arial, sans-serif";

struct Axis {
  double lo = 0, hi = 1;  // data range
  double p0 = 0, p1 = 1;  // pixel range (p0 maps lo)
  double map(double v) const { return p0 + (v - lo) / (hi - lo) * (p1 - p0); }
};

std::string num(double v) { return fmt(v, 6); }

void extend(double& lo, double& hi, double v) {
  if (!std::isfinite(v)) return;
  lo = std::min(lo, v);
  hi = std::max(hi, v);
}

// Ticks and axis limits that cover [lo, hi] exactly at tick positions.
std::vector<double> axis_ticks(double& lo, double& hi) {
  if (!(lo < hi)) {
    const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  auto ticks = nice_ticks(lo, hi);
  lo = std::min(lo, ticks.front());
  hi = std::max(hi, ticks.back());
  return ticks;
}

void text(std::ostringstream& os, double x, double y, const std::string& s, int size, const char* anchor,
          const char* extra = "") {
  os << "<text x=\"" << num(x) << "\" y=\"" << num(y) << "\" font-size=\"" << size << "\" text-anchor=\""
     << anchor << "\" " << extra << ">" << xml_escape(s) << "</text>\n";
}

void marker(std::ostringstream& os, char shape, double x, double y, double r, const std::string& color) {
  switch (shape) {
    case 's':
      os << "<rect x=\"" << num(x - r) << "\" y=\"" << num(y - r) << "\" width=\"" << num(2 * r)
         << "\" height=\"" << num(2 * r) << "\"";
      break;
    case 't':
      os << "<polygon points=\"" << num(x) << "," << num(y - r * 1.2) << " " << num(x - r * 1.1) << ","
         << num(y + r * 0.8) << " " << num(x + r * 1.1) << "," << num(y + r * 0.8) << "\"";
      break;
    case 'o':
      os << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"" << num(r) << "\"";
      break;
    default:  // diamond
      os << "<polygon points=\"" << num(x) << "," << num(y - r * 1.3) << " " << num(x + r * 1.3) << ","
         << num(y) << " " << num(x) << "," << num(y + r * 1.3) << " " << num(x - r * 1.3) << "," << num(y)
         << "\"";
  }
  os << " fill=\"" << color << "\" stroke=\"black\" stroke-width=\"0.8\"/>\n";
}

std::string header(int w, int h) {
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
     << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h
     << "\" viewBox=\"0 0 " << w << " " << h << "\" font-family=\"" << kFont << "\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  return os.str();
}

}  // namespace

const std::string& palette_color(std::size_t i) {
  static const std::string kColors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                        "#E69F00", "#56B4E9", "#F0E442", "#000000"};
  return kColors[i % (sizeof kColors / sizeof kColors[0])];
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, target - 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  const double first = std::floor(lo / step + 1e-9) * step;
  const double last = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> ticks;
  for (double t = first; t <= last + step * 1e-6; t += step)
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

std::string format_tick(double v, TickFormat f) {
  switch (f) {
    case TickFormat::kSteps: {
      const double a = std::abs(v);
      if (a >= 1e6) return fmt(v / 1e6, 4) + "M";
      if (a >= 1e3) return fmt(v / 1e3, 4) + "k";
      return fmt(v, 4);
    }
    case TickFormat::kPercent:
      return fmt(v * 100.0, 4) + "%";
    default:
      return fmt(v, 4);
  }
}

std::string LinePlot::svg(int width, int height) const {
  const bool legend = !lines_.empty() || !points_.empty() || !side_points_.empty();
  const bool side = !side_categories_.empty() && !side_points_.empty();
  // Legend as wide as its longest label (about 7 px per character at 12 px).
  std::size_t longest = 6;
  for (const auto& l : lines_) longest = std::max(longest, l.label.size());
  for (const auto& p : points_) longest = std::max(longest, p.label.size());
  for (const auto& p : side_points_) longest = std::max(longest, p.label.size());
  const int legend_w = legend ? 60 + 7 * static_cast<int>(longest) : 0;
  const double side_w = side ? 44.0 * static_cast<double>(side_categories_.size()) + 20 : 0;
  const double left = 78, top = subtitle_.empty() ? 44 : 62, bottom = height - 58.0;
  const double right = width - legend_w - 20.0 - (side ? side_w + 14 : 0);

  // Data range over every drawn element.
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double x_lo = kInf, x_hi = -kInf, y_lo = kInf, y_hi = -kInf;
  for (const auto& s : lines_) {
    for (double v : s.x) extend(x_lo, x_hi, v);
    for (double v : s.y) extend(y_lo, y_hi, v);
    for (double v : s.lo) extend(y_lo, y_hi, v);
    for (double v : s.hi) extend(y_lo, y_hi, v);
  }
  for (const auto& s : points_) {
    for (double v : s.x) extend(x_lo, x_hi, v);
    for (double v : s.y) extend(y_lo, y_hi, v);
    for (double v : s.lo) extend(y_lo, y_hi, v);
    for (double v : s.hi) extend(y_lo, y_hi, v);
  }
  if (side)
    for (const auto& s : side_points_) {
      for (double v : s.y) extend(y_lo, y_hi, v);
      for (double v : s.lo) extend(y_lo, y_hi, v);
      for (double v : s.hi) extend(y_lo, y_hi, v);
    }
  if (!std::isfinite(x_lo)) x_lo = 0, x_hi = 1;
  if (!std::isfinite(y_lo)) y_lo = 0, y_hi = 1;
  if (x_range_) x_lo = x_range_->first, x_hi = x_range_->second;
  if (y_range_) y_lo = y_range_->first, y_hi = y_range_->second;
  const auto x_ticks = axis_ticks(x_lo, x_hi);
  const auto y_ticks = axis_ticks(y_lo, y_hi);
  const Axis ax{x_lo, x_hi, left, right}, ay{y_lo, y_hi, bottom, top};

  std::ostringstream os;
  os << header(width, height);
  text(os, (left + right) / 2, 24, title_, 16, "middle", "font-weight=\"bold\"");
  if (!subtitle_.empty()) text(os, (left + right) / 2, 44, subtitle_, 12, "middle", "fill=\"#555\"");

  // Grid and tick labels.
  os << "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
  for (double t : x_ticks)
    os << "<line x1=\"" << num(ax.map(t)) << "\" y1=\"" << num(top) << "\" x2=\"" << num(ax.map(t))
       << "\" y2=\"" << num(bottom) << "\"/>\n";
  for (double t : y_ticks)
    os << "<line x1=\"" << num(left) << "\" y1=\"" << num(ay.map(t)) << "\" x2=\"" << num(right) << "\" y2=\""
       << num(ay.map(t)) << "\"/>\n";
  os << "</g>\n";
  for (double t : x_ticks) text(os, ax.map(t), bottom + 18, format_tick(t, x_format_), 12, "middle");
  for (double t : y_ticks) text(os, left - 8, ay.map(t) + 4, format_tick(t, y_format_), 12, "end");
  text(os, (left + right) / 2, height - 16.0, x_label_, 13, "middle");
  {
    const double cy = (top + bottom) / 2;
    os << "<text x=\"18\" y=\"" << num(cy)
       << "\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 18 " << num(cy) << ")\">"
       << xml_escape(y_label_) << "</text>\n";
  }

  os << "<defs><clipPath id=\"plot\"><rect x=\"" << num(left) << "\" y=\"" << num(top) << "\" width=\""
     << num(right - left) << "\" height=\"" << num(bottom - top) << "\"/></clipPath></defs>\n";
  os << "<g clip-path=\"url(#plot)\">\n";
  for (const auto& s : lines_) {
    if (s.lo.size() == s.x.size() && s.hi.size() == s.x.size() && !s.x.empty()) {
      os << "<polygon fill=\"" << s.color << "\" fill-opacity=\"0.18\" stroke=\"none\" points=\"";
      for (std::size_t i = 0; i < s.x.size(); ++i)
        os << num(ax.map(s.x[i])) << "," << num(ay.map(s.hi[i])) << " ";
      for (std::size_t i = s.x.size(); i-- > 0;)
        os << num(ax.map(s.x[i])) << "," << num(ay.map(s.lo[i])) << " ";
      os << "\"/>\n";
    }
  }
  for (const auto& s : lines_) {
    os << "<polyline fill=\"none\" stroke=\"" << s.color
       << "\" stroke-width=\"2.2\" stroke-linejoin=\"round\"" << (s.dashed ? " stroke-dasharray=\"6,4\"" : "")
       << " points=\"";
    for (std::size_t i = 0; i < s.x.size(); ++i)
      os << num(ax.map(s.x[i])) << "," << num(ay.map(s.y[i])) << " ";
    os << "\"/>\n";
    // Evaluations are sparse: a dot per point shows where the curve is measured, not interpolated.
    if (s.x.size() <= 30)
      for (std::size_t i = 0; i < s.x.size(); ++i)
        os << "<circle cx=\"" << num(ax.map(s.x[i])) << "\" cy=\"" << num(ay.map(s.y[i]))
           << "\" r=\"2.6\" fill=\"" << s.color << "\"/>\n";
  }
  const auto draw_points = [&](const PointSeries& s, const Axis& xa) {
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      const double px = xa.map(s.x[i]);
      if (i < s.lo.size() && i < s.hi.size() && std::isfinite(s.lo[i]) && std::isfinite(s.hi[i]))
        os << "<path d=\"M" << num(px) << "," << num(ay.map(s.lo[i])) << "V" << num(ay.map(s.hi[i])) << "M"
           << num(px - 4) << "," << num(ay.map(s.lo[i])) << "H" << num(px + 4) << "M" << num(px - 4) << ","
           << num(ay.map(s.hi[i])) << "H" << num(px + 4) << "\" stroke=\"" << s.color
           << "\" stroke-width=\"1.4\" fill=\"none\"/>\n";
      marker(os, s.shape, px, ay.map(s.y[i]), 5, s.color);
    }
  };
  os << "</g>\n";
  // Markers are not clipped: a point at the last step sits on the frame and must stay whole.
  for (const auto& s : points_) draw_points(s, ax);
  os << "<rect x=\"" << num(left) << "\" y=\"" << num(top) << "\" width=\"" << num(right - left)
     << "\" height=\"" << num(bottom - top) << "\" fill=\"none\" stroke=\"#333\" stroke-width=\"1\"/>\n";

  if (side) {
    // Categories sit at x = 0..n-1, half a slot of padding on each side.
    const double s0 = right + 14, s1 = s0 + side_w;
    const Axis sx{-0.5, static_cast<double>(side_categories_.size()) - 0.5, s0, s1};
    os << "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
    for (double t : y_ticks)
      os << "<line x1=\"" << num(s0) << "\" y1=\"" << num(ay.map(t)) << "\" x2=\"" << num(s1) << "\" y2=\""
         << num(ay.map(t)) << "\"/>\n";
    os << "</g>\n";
    for (std::size_t c = 0; c < side_categories_.size(); ++c)
      text(os, sx.map(static_cast<double>(c)), bottom + 18, side_categories_[c], 11, "middle");
    text(os, (s0 + s1) / 2, top - 6, side_title_, 11, "middle", "fill=\"#555\"");
    for (const auto& s : side_points_) draw_points(s, sx);
    os << "<rect x=\"" << num(s0) << "\" y=\"" << num(top) << "\" width=\"" << num(side_w) << "\" height=\""
       << num(bottom - top) << "\" fill=\"none\" stroke=\"#333\" stroke-width=\"1\"/>\n";
  }

  if (legend) {
    double lx = right + (side ? side_w + 14 : 0) + 18, ly = top + 6;
    text(os, lx, ly + 4, "Legend", 12, "start", "font-weight=\"bold\"");
    ly += 22;
    for (const auto& s : lines_) {
      if (!s.lo.empty())
        os << "<rect x=\"" << num(lx) << "\" y=\"" << num(ly - 7) << "\" width=\"26\" height=\"14\" fill=\""
           << s.color << "\" fill-opacity=\"0.18\"/>\n";
      os << "<line x1=\"" << num(lx) << "\" y1=\"" << num(ly) << "\" x2=\"" << num(lx + 26) << "\" y2=\""
         << num(ly) << "\" stroke=\"" << s.color << "\" stroke-width=\"2.2\""
         << (s.dashed ? " stroke-dasharray=\"6,4\"" : "") << "/>\n";
      text(os, lx + 34, ly + 4, s.label, 12, "start");
      ly += 22;
    }
    std::vector<const PointSeries*> all_points;
    for (const auto& s : points_) all_points.push_back(&s);
    if (side)
      for (const auto& s : side_points_) all_points.push_back(&s);
    for (const PointSeries* p : all_points) {
      const PointSeries& s = *p;
      marker(os, s.shape, lx + 13, ly, 5, s.color);
      text(os, lx + 34, ly + 4, s.label, 12, "start");
      ly += 22;
    }
  }
  os << "</svg>\n";
  return os.str();
}

std::string interval_plot_svg(const std::string& title, const std::vector<std::string>& metrics,
                              const std::vector<IntervalRow>& rows, const std::string& x_label) {
  std::size_t longest = 8;
  for (const auto& r : rows) longest = std::max(longest, r.method.size());
  const double label_w = 20 + 7.0 * static_cast<double>(longest), panel_w = 200, gap = 40, top = 70,
               row_h = 34;
  const int width = static_cast<int>(label_w + metrics.size() * (panel_w + gap) + 10);
  const double bottom = top + std::max<std::size_t>(rows.size(), 1) * row_h;
  const int height = static_cast<int>(bottom + 62);

  std::ostringstream os;
  os << header(width, height);
  text(os, width / 2.0, 24, title, 16, "middle", "font-weight=\"bold\"");
  for (std::size_t r = 0; r < rows.size(); ++r)
    text(os, label_w - 10, top + (r + 0.5) * row_h + 4, rows[r].method, 12, "end");

  for (std::size_t m = 0; m < metrics.size(); ++m) {
    const double x0 = label_w + m * (panel_w + gap), x1 = x0 + panel_w;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& row : rows) {
      extend(lo, hi, row.lo[m]);
      extend(lo, hi, row.hi[m]);
      extend(lo, hi, row.point[m]);
    }
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    if (!(lo < hi)) lo -= 0.05, hi += 0.05;
    auto ticks = nice_ticks(lo, hi, 4);  // few ticks: panels are narrow and sit side by side
    lo = std::min(lo, ticks.front());
    hi = std::max(hi, ticks.back());
    const Axis ax{lo, hi, x0, x1};
    text(os, (x0 + x1) / 2, top - 14, metrics[m], 14, "middle", "font-weight=\"bold\"");
    for (double t : ticks) {
      os << "<line x1=\"" << num(ax.map(t)) << "\" y1=\"" << num(top) << "\" x2=\"" << num(ax.map(t))
         << "\" y2=\"" << num(bottom) << "\" stroke=\"#e3e3e3\"/>\n";
      text(os, ax.map(t), bottom + 16, format_tick(t, TickFormat::kPlain), 11, "middle");
    }
    os << "<line x1=\"" << num(x0) << "\" y1=\"" << num(bottom) << "\" x2=\"" << num(x1) << "\" y2=\""
       << num(bottom) << "\" stroke=\"#333\"/>\n";
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const double cy = top + (r + 0.5) * row_h;
      const double a = ax.map(rows[r].lo[m]), b = ax.map(rows[r].hi[m]);
      os << "<rect x=\"" << num(a) << "\" y=\"" << num(cy - 9) << "\" width=\"" << num(std::max(b - a, 1.5))
         << "\" height=\"18\" fill=\"" << rows[r].color << "\" fill-opacity=\"0.75\"/>\n";
      const double p = ax.map(rows[r].point[m]);
      os << "<line x1=\"" << num(p) << "\" y1=\"" << num(cy - 12) << "\" x2=\"" << num(p) << "\" y2=\""
         << num(cy + 12) << "\" stroke=\"black\" stroke-width=\"2\"/>\n";
    }
  }
  text(os, label_w + (width - label_w) / 2.0, height - 14.0, x_label, 13, "middle");
  os << "</svg>\n";
  return os.str();
}

}  // namespace lucid::report
