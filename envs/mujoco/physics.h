// Physics — one mjModel + one mjData, with dm_control's stepping, reset and divergence semantics.
//
// Each Physics owns its own copy of the model because tasks edit it per episode (target sites,
// target sizes, damping) and dm_control keeps those edits in the model. Nothing here is shared
// between instances, so Physics objects may step on different threads at once.
//
// Stepping (dm_control's legacy_step, facts §1): ctrl = action verbatim (MuJoCo clamps internally
// to ctrlrange but leaves ctrl unclamped, so rewards see the raw action), then mj_step n_sub
// times, then mj_step1 so that kinematics and position/velocity sensors describe the new state.
// Acceleration-stage quantities (touch, force sensors) keep the values of the last substep.
//
// Divergence: any mjData warning counter that grows during a step makes step() return false
// (dm_control raises PhysicsError there); MuJoCo has already reset the bad state, so the data stays
// valid and nothing crashes.
#pragma once

#include <mujoco/mujoco.h>

#include <filesystem>
#include <span>
#include <string>

namespace lucid::envs {

class Physics {
 public:
  // Compiles an MJCF file. Throws lucid::IoError naming the path and MuJoCo's message.
  static Physics from_xml(const std::filesystem::path& path);

  Physics(Physics&& other) noexcept;
  Physics& operator=(Physics&& other) noexcept;
  Physics(const Physics&) = delete;
  Physics& operator=(const Physics&) = delete;
  ~Physics();

  // A deep copy: its own mjModel (with any edits made so far) and mjData (same state).
  Physics clone() const;

  mjModel* model() { return m_; }
  const mjModel* model() const { return m_; }
  mjData* data() { return d_; }
  const mjData* data() const { return d_; }

  // mj_resetData, then mj_forward with actuation disabled (dm_control's reset before the task's
  // initialize_episode).
  void reset();
  // mj_forward with mjDSBL_ACTUATION: what dm_control's after_reset() does, so that the first
  // observation and the initial contact check do not see stale controls.
  void forward_without_actuation();

  // ctrl <- ctrl (nu values), mj_step n_sub times, mj_step1. Returns false when MuJoCo raised a
  // new warning (the physics diverged); warning_message() then names it.
  bool step(std::span<const double> ctrl, int n_sub);
  const std::string& warning_message() const { return warning_message_; }

  // Ids of named elements; throw lucid::EnvError naming the element when the model lacks it, so a
  // model that does not fit its task fails at construction, not with garbage observations.
  int body_id(const char* name) const { return id(mjOBJ_BODY, name, "body"); }
  int joint_id(const char* name) const { return id(mjOBJ_JOINT, name, "joint"); }
  int geom_id(const char* name) const { return id(mjOBJ_GEOM, name, "geom"); }
  int site_id(const char* name) const { return id(mjOBJ_SITE, name, "site"); }
  int actuator_id(const char* name) const { return id(mjOBJ_ACTUATOR, name, "actuator"); }
  int sensor_id(const char* name) const { return id(mjOBJ_SENSOR, name, "sensor"); }
  // First sensordata index of a named sensor.
  int sensor_adr(const char* name) const { return m_->sensor_adr[sensor_id(name)]; }

  // Row-major body rotation entry R[row][col] (dm_control's xmat['body', 'xz'] is R[0][2]).
  double xmat(int body, int row, int col) const { return d_->xmat[9 * body + 3 * row + col]; }

  // Physics steps per control step for a control timestep; 1 when control_dt is 0 (the task passes
  // none). Throws lucid::EnvError when control_dt is not a multiple of the model's timestep.
  int substeps_for(double control_dt) const;

 private:
  Physics(mjModel* m, mjData* d) : m_(m), d_(d) {}
  int id(mjtObj type, const char* name, const char* what) const;

  mjModel* m_ = nullptr;
  mjData* d_ = nullptr;
  std::string warning_message_;
};

}  // namespace lucid::envs
