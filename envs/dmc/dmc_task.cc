// ObsWriter and the joint randomizer shared by every DMC task.
#include "dmc/dmc_task.h"

#include <cmath>
#include <numbers>

#include "lucid/error.h"

namespace lucid::envs::dmc {

ObsWriter& ObsWriter::put(double v) {
  LUCID_CHECK_AS(n_ < out_.size(), EnvError) << "observation overflows its " << out_.size() << " values";
  out_[n_++] = static_cast<float>(v);
  return *this;
}

void ObsWriter::finish() const {
  LUCID_CHECK_AS(n_ == out_.size(), EnvError)
      << "observation wrote " << n_ << " of " << out_.size() << " values";
}

void randomize_limited_and_rotational_joints(Physics& physics, Random& random) {
  const mjModel* m = physics.model();
  mjtNum* qpos = physics.data()->qpos;
  for (int j = 0; j < m->njnt; ++j) {
    const int adr = m->jnt_qposadr[j];
    const bool limited = m->jnt_limited[j] != 0;
    const double lo = m->jnt_range[2 * j], hi = m->jnt_range[2 * j + 1];
    switch (m->jnt_type[j]) {
      case mjJNT_HINGE:
        qpos[adr] = limited ? random.uniform(lo, hi) : random.uniform(-std::numbers::pi, std::numbers::pi);
        break;
      case mjJNT_SLIDE:
        if (limited) qpos[adr] = random.uniform(lo, hi);
        break;
      case mjJNT_BALL: {
        double q[4];
        if (limited) {
          // a rotation by U[0, range max) about a uniformly random axis
          double axis[3], norm = 0.0;
          for (double& x : axis) x = random.normal(), norm += x * x;
          norm = std::sqrt(norm);
          for (double& x : axis) x /= norm;
          mju_axisAngle2Quat(q, axis, random.uniform() * hi);
        } else {
          double norm = 0.0;
          for (double& x : q) x = random.normal(), norm += x * x;
          norm = std::sqrt(norm);
          for (double& x : q) x /= norm;
        }
        for (int k = 0; k < 4; ++k) qpos[adr + k] = q[k];
        break;
      }
      case mjJNT_FREE: {
        double q[4], norm = 0.0;
        for (double& x : q) x = random.uniform(), norm += x * x;
        norm = std::sqrt(norm);
        for (int k = 0; k < 4; ++k) qpos[adr + 3 + k] = q[k] / norm;
        break;
      }
    }
  }
}

}  // namespace lucid::envs::dmc
