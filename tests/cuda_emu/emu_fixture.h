// Helpers for the kernel tests, which build twice from the same sources: under the emulator
// (tests/cuda_emu, LUCID_EMU) and natively (tests/cuda). Device buffers that free themselves, and
// a fixture that, emulated, turns random fiber order on (seeded) and resets the launch counters;
// natively, skips the test with a message when the machine has no CUDA device.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "lucid/kernels/cuda/runtime.h"

namespace lucid::testing {

// A cudaMalloc'd array of T, copied to and from std::vector.
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n) : n_(n) { LUCID_CUDA_CHECK(cudaMalloc(&p_, bytes())); }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void upload(const std::vector<T>& host) {
    LUCID_CUDA_CHECK(cudaMemcpy(p_, host.data(), bytes(), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> out(n_);
    LUCID_CUDA_CHECK(cudaMemcpy(out.data(), p_, bytes(), cudaMemcpyDeviceToHost));
    return out;
  }
  T* get() const { return p_; }
  std::size_t size() const { return n_; }
  std::size_t bytes() const { return n_ * sizeof(T); }

 private:
  T* p_ = nullptr;
  std::size_t n_;
};

// Random fiber order for every test of a suite that derives from this fixture.
class EmuTest : public ::testing::Test {
 protected:
#if defined(LUCID_EMU)
  void SetUp() override {
    emu::set_random_order(true, 1234);
    emu::reset_counters();
  }
  void TearDown() override { emu::set_random_order(false); }
#else
  void SetUp() override {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
      cudaGetLastError();
      has_device_ = false;
      GTEST_SKIP() << "no CUDA device on this machine: native kernel tests skipped (the emulated ones ran)";
    }
  }
  void TearDown() override {
    if (has_device_) LUCID_CUDA_CHECK(cudaDeviceSynchronize());
  }

 private:
  bool has_device_ = true;
#endif
};

inline std::vector<float> random_vector(std::size_t n, std::uint64_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

}  // namespace lucid::testing
