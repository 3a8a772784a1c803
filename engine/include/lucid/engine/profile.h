// lucid::ProfileRange: a named range on the profiler's timeline (NVTX under Nsight Systems), for
// code in libraries that must not depend on CUDA — the engine, models, planners, agents.
//
// A range is pushed when the object is built and popped when it dies. It costs one load and a
// branch unless a native CUDA backend has registered its NVTX hooks (use_cuda_device() in a
// binary linking lucid_engine_cuda); CPU-only binaries and the emulator register none, so there
// the range is free. Names follow docs/profiling.md: "<layer>/<what>" ("update/world_model",
// "engine/backward").
#pragma once

namespace lucid {

struct ProfileHooks {
  void (*push)(const char* name) = nullptr;
  void (*pop)() = nullptr;
};

// Registered by the native CUDA backend; nullptr (no hooks) by default.
void set_profile_hooks(const ProfileHooks* hooks);
const ProfileHooks* profile_hooks();

class ProfileRange {
 public:
  explicit ProfileRange(const char* name) : hooks_(profile_hooks()) {
    if (hooks_) hooks_->push(name);
  }
  ~ProfileRange() {
    if (hooks_) hooks_->pop();
  }
  ProfileRange(const ProfileRange&) = delete;
  ProfileRange& operator=(const ProfileRange&) = delete;

 private:
  const ProfileHooks* hooks_;
};

}  // namespace lucid
