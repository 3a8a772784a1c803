// Random — the per-env generator tasks draw their initial states from.
//
// envs knows nothing of the engine (DESIGN.md), so it has its own small generator: a 64-bit
// Mersenne Twister keyed by (seed, stream) through std::seed_seq. Both algorithms are fixed by the
// C++ standard, and the distributions below are written out instead of using <random>'s (whose
// algorithms are implementation-defined), so a seed gives the same episodes on every platform.
// dm_control draws from numpy's RandomState; lucid cannot reproduce those streams bit for bit, and
// only the distributions are part of the task definition.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

namespace lucid::envs::dmc {

class Random {
 public:
  Random(std::uint64_t seed, std::uint64_t stream) { reseed(seed, stream); }

  void reseed(std::uint64_t seed, std::uint64_t stream) {
    std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                      static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)};
    engine_.seed(seq);
    has_spare_ = false;
  }

  // U[0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // U[lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // N(0, 1) by Box-Muller; the second value of each pair is kept for the next call.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace lucid::envs::dmc
