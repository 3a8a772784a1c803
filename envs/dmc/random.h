// Random — the per-env generator tasks draw their initial states from.
//
// envs knows nothing of the engine (DESIGN.md), so it has its own generator. It reproduces numpy's
// legacy RandomState, which dm_control's tasks draw from: MT19937 (std::mt19937 is the same
// algorithm, and numpy seeds an integer exactly like its constructor), 53-bit doubles from two
// draws, uniform(lo, hi) = lo + (hi - lo) * u, and normals by the polar method with the second
// value cached. So Random(s, 0) gives numpy.random.RandomState(s)'s numbers, and reset(s) of a
// task built with EnvOptions::seed = 0 draws the initial state of dm_control's first episode under
// task_kwargs={'random': s} (dm_control then continues its stream; lucid reseeds every reset).
// Other streams, and seeds of 2^32 and above (numpy refuses those), key MT19937 by
// std::seed_seq{seed, stream}: fixed by the standard, so every platform draws the same numbers.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

namespace lucid::envs::dmc {

class Random {
 public:
  Random(std::uint64_t seed, std::uint64_t stream) { reseed(seed, stream); }

  void reseed(std::uint64_t seed, std::uint64_t stream) {
    if (stream == 0 && seed <= 0xffffffffull) {
      engine_.seed(static_cast<std::uint32_t>(seed));
    } else {
      std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                        static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)};
      engine_.seed(seq);
    }
    has_spare_ = false;
  }

  // U[0, 1) with 53 random bits: numpy's random_sample / rand.
  double uniform() {
    const double a = static_cast<double>(engine_() >> 5), b = static_cast<double>(engine_() >> 6);
    return (a * 67108864.0 + b) / 9007199254740992.0;
  }
  // U[lo, hi): numpy's uniform(lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // N(0, 1): numpy's legacy randn (Marsaglia's polar method; the pair's second value is kept).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double x1, x2, r2;
    do {
      x1 = 2.0 * uniform() - 1.0;
      x2 = 2.0 * uniform() - 1.0;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    const double f = std::sqrt(-2.0 * std::log(r2) / r2);
    spare_ = f * x1;
    has_spare_ = true;
    return f * x2;
  }

 private:
  std::mt19937 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace lucid::envs::dmc
