// Shared test helpers: closeness with |got - ref| <= atol + rtol * |ref| and a report of the worst
// element, and where the shared fidelity files live.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <sstream>
#include <string>

namespace lucid::testing {

// Checks every element; on failure names the index, both values and how many elements failed.
template <typename A, typename B>
::testing::AssertionResult all_close(const A* got, const B* ref, std::size_t n, double atol, double rtol) {
  std::size_t bad = 0, worst = 0;
  double worst_excess = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double g = static_cast<double>(got[i]), r = static_cast<double>(ref[i]);
    const double excess = std::abs(g - r) - (atol + rtol * std::abs(r));
    if (!(excess <= 0.0)) {  // also catches NaN
      if (bad == 0 || excess > worst_excess || std::isnan(excess)) worst = i, worst_excess = excess;
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  std::ostringstream os;
  os << bad << " of " << n << " elements differ; worst at [" << worst << "]: got " << got[worst]
     << ", expected " << ref[worst] << " (atol " << atol << ", rtol " << rtol << ")";
  return ::testing::AssertionFailure() << os.str();
}

// dm_control's own models for fidelity tests, or an empty path when ../shared/dmc_xml is absent.
inline std::filesystem::path dmc_xml_dir() {
  std::filesystem::path p = std::filesystem::path(LUCID_SHARED_DIR) / "dmc_xml" / "suite";
  return std::filesystem::exists(p) ? p : std::filesystem::path();
}

}  // namespace lucid::testing
