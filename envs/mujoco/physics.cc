// Physics: loading, dm_control stepping and divergence detection on MuJoCo 2.2.2's C API.
#include "mujoco/physics.h"

#include <array>
#include <cmath>
#include <mutex>
#include <utility>

#include "lucid/error.h"

namespace lucid::envs {

namespace {
// MuJoCo's default warning handler prints to stdout and appends to MUJOCO_LOG.TXT in the working
// directory. lucid reports warnings through Physics::warning_message() instead, so the handler
// keeps the text of the latest warning of the calling thread (each Physics steps on one thread).
thread_local std::string t_last_warning;
void keep_warning(const char* msg) { t_last_warning = msg; }
void install_warning_handler() {
  static std::once_flag once;
  std::call_once(once, [] { mju_user_warning = keep_warning; });
}

constexpr const char* kWarningNames[mjNWARNING] = {"INERTIA", "CONTACTFULL", "CNSTRFULL", "VGEOMFULL",
                                                   "BADQPOS", "BADQVEL",     "BADQACC",   "BADCTRL"};
}  // namespace

Physics Physics::from_xml(const std::filesystem::path& path) {
  install_warning_handler();
  LUCID_CHECK_AS(std::filesystem::exists(path), IoError) << "MuJoCo model not found: " << path.string();
  std::array<char, 1024> error{};
  mjModel* m = nullptr;
  {
    // MuJoCo's XML loader keeps the last parsed model in a process-wide slot (for mj_saveLastXML);
    // lucid serialises loads instead of relying on how 2.2.2 guards it. Stepping needs no lock.
    static std::mutex load_mutex;
    std::lock_guard<std::mutex> lock(load_mutex);
    m = mj_loadXML(path.c_str(), nullptr, error.data(), static_cast<int>(error.size()));
  }
  LUCID_CHECK_AS(m != nullptr, IoError)
      << "MuJoCo could not compile " << path.string() << ": " << error.data();
  mjData* d = mj_makeData(m);
  if (d == nullptr) {
    mj_deleteModel(m);
    LUCID_FAIL(IoError) << "mj_makeData failed for " << path.string();
  }
  Physics p(m, d);
  p.reset();
  return p;
}

Physics::Physics(Physics&& other) noexcept
    : m_(std::exchange(other.m_, nullptr)),
      d_(std::exchange(other.d_, nullptr)),
      warning_message_(std::move(other.warning_message_)) {}

Physics& Physics::operator=(Physics&& other) noexcept {
  if (this != &other) {
    if (d_) mj_deleteData(d_);
    if (m_) mj_deleteModel(m_);
    m_ = std::exchange(other.m_, nullptr);
    d_ = std::exchange(other.d_, nullptr);
    warning_message_ = std::move(other.warning_message_);
  }
  return *this;
}

Physics::~Physics() {
  if (d_) mj_deleteData(d_);
  if (m_) mj_deleteModel(m_);
}

Physics Physics::clone() const {
  mjModel* m = mj_copyModel(nullptr, m_);
  LUCID_CHECK_AS(m != nullptr, EnvError) << "mj_copyModel failed";
  mjData* d = mj_makeData(m);
  if (d == nullptr) {
    mj_deleteModel(m);
    LUCID_FAIL(EnvError) << "mj_makeData failed";
  }
  mj_copyData(d, m, d_);
  return Physics(m, d);
}

void Physics::reset() {
  mj_resetData(m_, d_);
  forward_without_actuation();
}

void Physics::forward_without_actuation() {
  const int saved = m_->opt.disableflags;
  m_->opt.disableflags |= mjDSBL_ACTUATION;
  mj_forward(m_, d_);
  m_->opt.disableflags = saved;
}

bool Physics::step(std::span<const double> ctrl, int n_sub) {
  LUCID_CHECK_AS(static_cast<int>(ctrl.size()) == m_->nu, EnvError)
      << "expected " << m_->nu << " controls, got " << ctrl.size();
  LUCID_CHECK_AS(n_sub >= 1, EnvError) << "n_sub must be >= 1, got " << n_sub;
  std::array<int, mjNWARNING> before{};
  for (int i = 0; i < mjNWARNING; ++i) before[i] = d_->warning[i].number;
  for (int i = 0; i < m_->nu; ++i) d_->ctrl[i] = ctrl[i];
  t_last_warning.clear();
  for (int i = 0; i < n_sub; ++i) mj_step(m_, d_);
  mj_step1(m_, d_);
  warning_message_.clear();
  for (int i = 0; i < mjNWARNING; ++i) {
    if (d_->warning[i].number > before[i]) {
      if (!warning_message_.empty()) warning_message_ += ", ";
      warning_message_ += std::string("mjWARN_") + kWarningNames[i] + " (info " +
                          std::to_string(d_->warning[i].lastinfo) + ")";
    }
  }
  if (!warning_message_.empty() && !t_last_warning.empty()) warning_message_ += ": " + t_last_warning;
  return warning_message_.empty();
}

int Physics::substeps_for(double control_dt) const {
  if (control_dt <= 0.0) return 1;
  const double ratio = control_dt / m_->opt.timestep;
  const double n = std::round(ratio);
  // dm_control only warns here; lucid refuses, because a silent rounding changes the task's
  // control frequency.
  LUCID_CHECK_AS(n >= 1.0 && std::abs(ratio - n) < 1e-6, EnvError)
      << "control timestep " << control_dt << " is not a multiple of the physics timestep "
      << m_->opt.timestep;
  return static_cast<int>(n);
}

int Physics::id(mjtObj type, const char* name, const char* what) const {
  const int i = mj_name2id(m_, type, name);
  LUCID_CHECK_AS(i >= 0, EnvError) << "the model has no " << what << " named '" << name << "'";
  return i;
}

}  // namespace lucid::envs
