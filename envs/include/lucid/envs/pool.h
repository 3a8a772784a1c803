// EnvPool — N environments of one task stepped in parallel on worker threads.
//
// Each env owns its mjModel, mjData and RNG stream (env i is built with EnvOptions::seed + i), and
// env i always runs on worker i % num_threads (worker 0 is the calling thread, the others are
// persistent threads woken per batch), so no simulation state is shared and the results
// are bit-identical to stepping the same envs one after another (tests/envs/test_pool.cc).
// Batches are flat row-major buffers: observations [n, observation_dim], actions [n, action_dim],
// rewards [n], statuses [n]. The pool does not reset an env whose episode ended: call
// reset_one() for it (or reset() for all) before the next step(), as with a single Env.
//
// An exception in any env (bad action, step after the end) is rethrown on the calling thread after
// every worker has finished the batch; the other envs have then stepped.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lucid/envs/env.h"
#include "lucid/envs/registry.h"

namespace lucid::envs {

class EnvPool {
 public:
  struct Status {
    bool terminated = false, truncated = false, diverged = false;
    bool done() const { return terminated || truncated || diverged; }
  };

  // num_threads 0: min(n_envs, hardware threads). 1 steps everything on the calling thread.
  EnvPool(const std::string& task, int n_envs, const EnvOptions& options = {}, int num_threads = 0);
  ~EnvPool();
  EnvPool(const EnvPool&) = delete;
  EnvPool& operator=(const EnvPool&) = delete;

  int size() const { return static_cast<int>(envs_.size()); }
  int observation_dim() const { return obs_dim_; }
  int action_dim() const { return action_dim_; }
  int num_threads() const { return num_threads_; }
  Env& env(int i) { return *envs_.at(static_cast<std::size_t>(i)); }

  // Resets env i with seeds[i]; obs receives [n, observation_dim].
  void reset(std::span<const std::uint64_t> seeds, std::span<float> obs);
  // Resets one env; obs receives its observation_dim values.
  void reset_one(int i, std::uint64_t seed, std::span<float> obs);
  // Steps env i with actions[i * action_dim, ...); writes obs, rewards and statuses of every env.
  void step(std::span<const float> actions, std::span<float> obs, std::span<double> rewards,
            std::span<Status> statuses);

 private:
  struct Workers;
  // Runs job(i) for every env, env i on worker i % num_threads_, and rethrows the first failure.
  template <typename Job>
  void for_each_env(Job&& job);

  std::vector<std::unique_ptr<Env>> envs_;
  int obs_dim_ = 0, action_dim_ = 0, num_threads_ = 1;
  std::unique_ptr<Workers> workers_;
};

}  // namespace lucid::envs
