// EnvPool: persistent workers woken per batch by a generation counter. Each worker owns a fixed
// set of envs (i % num_threads), so an env's state is only ever touched by one thread. The calling
// thread is worker 0: it steps its own share instead of sleeping, so T workers cost T-1 threads.
#include "lucid/envs/pool.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "lucid/error.h"

namespace lucid::envs {

struct EnvPool::Workers {
  std::mutex mu;
  std::condition_variable wake, finished;
  std::function<void(int)> job;  // runs one env; set by the caller for each batch
  std::uint64_t generation = 0;  // bumped once per batch
  int pending = 0;               // workers still busy with the current batch
  bool stop = false;
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors;  // one slot per env

  // Runs the job for worker `worker`'s envs, keeping each env's exception in its slot.
  void run_share(int worker, int num_threads, int n_envs) {
    for (int i = worker; i < n_envs; i += num_threads) {
      try {
        job(i);
      } catch (...) {
        errors[static_cast<std::size_t>(i)] = std::current_exception();
      }
    }
  }

  void run(int worker, int num_threads, int n_envs) {
    std::uint64_t seen = 0;
    for (;;) {
      std::unique_lock<std::mutex> lock(mu);
      wake.wait(lock, [&] { return stop || generation != seen; });
      if (stop) return;
      seen = generation;
      lock.unlock();
      run_share(worker, num_threads, n_envs);
      lock.lock();
      if (--pending == 0) finished.notify_one();
    }
  }
};

EnvPool::EnvPool(const std::string& task, int n_envs, const EnvOptions& options, int num_threads) {
  LUCID_CHECK_AS(n_envs >= 1, EnvError) << "a pool needs at least one env, got " << n_envs;
  LUCID_CHECK_AS(num_threads >= 0, EnvError) << "num_threads must be >= 0, got " << num_threads;
  for (int i = 0; i < n_envs; ++i) {
    EnvOptions o = options;
    o.seed = options.seed + static_cast<std::uint64_t>(i);
    envs_.push_back(make_env(task, o));
  }
  obs_dim_ = envs_[0]->observation_dim();
  action_dim_ = envs_[0]->action_dim();
  const int hw = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  num_threads_ = std::min(n_envs, num_threads == 0 ? hw : num_threads);
  if (num_threads_ > 1) {
    workers_ = std::make_unique<Workers>();
    workers_->errors.resize(envs_.size());
    for (int w = 1; w < num_threads_; ++w)
      workers_->threads.emplace_back([this, w, n_envs] { workers_->run(w, num_threads_, n_envs); });
  }
}

EnvPool::~EnvPool() {
  if (!workers_) return;
  {
    std::lock_guard<std::mutex> lock(workers_->mu);
    workers_->stop = true;
  }
  workers_->wake.notify_all();
  for (std::thread& t : workers_->threads) t.join();
}

template <typename Job>
void EnvPool::for_each_env(Job&& job) {
  if (!workers_) {
    for (int i = 0; i < size(); ++i) job(i);
    return;
  }
  Workers& w = *workers_;
  std::fill(w.errors.begin(), w.errors.end(), nullptr);
  {
    std::lock_guard<std::mutex> lock(w.mu);
    w.job = job;
    w.pending = num_threads_ - 1;
    ++w.generation;
  }
  w.wake.notify_all();
  w.run_share(0, num_threads_, size());
  {
    std::unique_lock<std::mutex> lock(w.mu);
    w.finished.wait(lock, [&] { return w.pending == 0; });
  }
  for (const std::exception_ptr& e : w.errors)
    if (e) std::rethrow_exception(e);
}

void EnvPool::reset(std::span<const std::uint64_t> seeds, std::span<float> obs) {
  LUCID_CHECK_AS(seeds.size() == envs_.size(), EnvError)
      << "expected " << envs_.size() << " seeds, got " << seeds.size();
  LUCID_CHECK_AS(obs.size() == envs_.size() * obs_dim_, EnvError)
      << "observation buffer holds " << obs.size() << " values, the pool needs " << envs_.size() * obs_dim_;
  for_each_env([&](int i) {
    const std::vector<float> o = envs_[i]->reset(seeds[i]);
    std::copy(o.begin(), o.end(), obs.begin() + static_cast<std::ptrdiff_t>(i) * obs_dim_);
  });
}

void EnvPool::reset_one(int i, std::uint64_t seed, std::span<float> obs) {
  LUCID_CHECK_AS(i >= 0 && i < size(), EnvError) << "env " << i << " of " << size();
  LUCID_CHECK_AS(static_cast<int>(obs.size()) == obs_dim_, EnvError)
      << "expected " << obs_dim_ << " observation values, got " << obs.size();
  const std::vector<float> o = envs_[i]->reset(seed);
  std::copy(o.begin(), o.end(), obs.begin());
}

void EnvPool::step(std::span<const float> actions, std::span<float> obs, std::span<double> rewards,
                   std::span<Status> statuses) {
  const std::size_t n = envs_.size();
  LUCID_CHECK_AS(actions.size() == n * action_dim_, EnvError)
      << "expected " << n << " x " << action_dim_ << " actions, got " << actions.size() << " values";
  LUCID_CHECK_AS(obs.size() == n * obs_dim_ && rewards.size() == n && statuses.size() == n, EnvError)
      << "output buffers must hold " << n << " x " << obs_dim_ << " observations and " << n
      << " rewards and statuses";
  for_each_env([&](int i) {
    const StepResult r =
        envs_[i]->step(actions.subspan(static_cast<std::size_t>(i) * action_dim_, action_dim_));
    std::copy(r.obs.begin(), r.obs.end(), obs.begin() + static_cast<std::ptrdiff_t>(i) * obs_dim_);
    rewards[i] = r.reward;
    statuses[i] = Status{r.terminated, r.truncated, r.diverged};
  });
}

}  // namespace lucid::envs
