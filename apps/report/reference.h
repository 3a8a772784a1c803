// Published reference scores (TD-MPC2, BMPC at 100k / 500k / 1M agent steps) that the report
// draws beside lucid's learning curves. The data ship as apps/data/reference_scores.csv
// (`algorithm,task,step,return,min,max`; `#` lines are comments; min/max may be empty).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lucid::report {

struct ReferencePoint {
  std::string algorithm, task;
  std::int64_t step = 0;
  double mean_return = 0;
  std::optional<double> min_return, max_return;
};

// The bundled file: <source>/apps/data/reference_scores.csv (found next to apps/configs).
std::filesystem::path default_reference_file();
// Throws lucid::IoError when the file is missing or a data line is malformed (with its line).
std::vector<ReferencePoint> load_reference_scores(const std::filesystem::path& file);
// Task names compare after spelling normalisation: '_' and '-' are equal, and TD-MPC2's
// `cup-catch` is dm_control's `ball_in_cup-catch`.
std::string canonical_task(const std::string& task);
std::vector<ReferencePoint> reference_for_task(const std::vector<ReferencePoint>& all,
                                               const std::string& task);

}  // namespace lucid::report
