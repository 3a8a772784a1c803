// Loader for the bundled reference-score table.
#include "report/reference.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "lucid/error.h"
#include "report/files.h"

namespace lucid::report {

std::filesystem::path default_reference_file() {
#ifdef LUCID_CONFIG_DIR
  return std::filesystem::path(LUCID_CONFIG_DIR).parent_path() / "data" / "reference_scores.csv";
#else
  return "apps/data/reference_scores.csv";
#endif
}

std::string canonical_task(const std::string& task) {
  std::string t;
  for (char c : task) t += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "cup-catch") t = "ball-in-cup-catch";
  return t;
}

std::vector<ReferencePoint> load_reference_scores(const std::filesystem::path& file) {
  const auto text = read_text(file);
  LUCID_CHECK_AS(text.has_value(), IoError) << "cannot read reference scores " << file.string();
  std::vector<ReferencePoint> out;
  bool header = true;
  int line_no = 0;
  for (const std::string& raw : split(*text, '\n')) {
    ++line_no;
    std::string line = raw;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (header) {  // algorithm,task,step,return,min,max
      header = false;
      continue;
    }
    const auto f = split(line, ',');
    LUCID_CHECK_AS(f.size() == 6, IoError)
        << file.string() << ":" << line_no << ": expected 6 fields, got " << f.size();
    ReferencePoint p;
    p.algorithm = f[0];
    p.task = f[1];
    char* end = nullptr;
    p.step = std::strtoll(f[2].c_str(), &end, 10);
    LUCID_CHECK_AS(end && *end == '\0' && p.step > 0, IoError)
        << file.string() << ":" << line_no << ": bad step '" << f[2] << "'";
    p.mean_return = std::strtod(f[3].c_str(), &end);
    LUCID_CHECK_AS(!f[3].empty() && *end == '\0', IoError)
        << file.string() << ":" << line_no << ": bad return '" << f[3] << "'";
    if (!f[4].empty()) p.min_return = std::strtod(f[4].c_str(), nullptr);
    if (!f[5].empty()) p.max_return = std::strtod(f[5].c_str(), nullptr);
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<ReferencePoint> reference_for_task(const std::vector<ReferencePoint>& all,
                                               const std::string& task) {
  const std::string key = canonical_task(task);
  std::vector<ReferencePoint> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out),
               [&](const ReferencePoint& p) { return canonical_task(p.task) == key; });
  return out;
}

}  // namespace lucid::report
