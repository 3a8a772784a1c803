// One engine test suite, two devices: the fixture the op-value, gradient and golden tests
// (test_ops_values.cc, test_ops_grad.cc, test_golden_tdmpc2.cc) derive from.
//
// Those files are compiled twice. In engine_tests (label cpu) they instantiate every TEST_P for
// Device::kCpu; in engine_cuda_emu_tests (tests/cuda_emu, label cuda_emu: the CUDA emulator) and
// engine_cuda_tests (tests/cuda, label cuda: a real GPU) they are built with LUCID_TEST_CUDA and
// instantiate the same tests for Device::kCuda, so each test body is written once. Inputs are made
// on the host (deterministic, readable), moved with on(), and results come back with host().
// On the native build, a machine without a GPU skips every CUDA instance with a message.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "lucid/engine/tensor.h"

#if defined(LUCID_TEST_CUDA)
#include "lucid/engine/cuda_device.h"
#include "lucid/kernels/cuda/runtime.h"
#endif

namespace lucid::testing {

class OnDevice : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
#if defined(LUCID_TEST_CUDA)
#if defined(LUCID_EMU)
    // Random fiber order at every barrier, as the kernel tests run: a missing __syncthreads in a
    // kernel the engine reaches fails here too. LUCID_EMU_RANDOM_ORDER=<seed> picks another order.
    const char* env = std::getenv("LUCID_EMU_RANDOM_ORDER");
    emu::set_random_order(true, env ? std::strtoull(env, nullptr, 10) : 4321);
#else
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
      cudaGetLastError();
      GTEST_SKIP() << "no CUDA device on this machine: native engine tests skipped (the emulated ones ran)";
    }
#endif
    use_cuda_device();
#endif
  }
#if defined(LUCID_TEST_CUDA) && defined(LUCID_EMU)
  void TearDown() override { emu::set_random_order(false); }
#endif

  Device dev() const { return GetParam(); }
  bool on_gpu() const { return GetParam() == Device::kCuda; }
  // A copy of `t` on the device under test (t itself when that is the CPU).
  Tensor on(const Tensor& t) const { return t.to(dev()); }
  static Tensor host(const Tensor& t) { return t.to(Device::kCpu); }
};

inline std::string device_param_name(const ::testing::TestParamInfo<Device>& info) {
  return info.param == Device::kCuda ? "Cuda" : "Cpu";
}

}  // namespace lucid::testing

// Instantiates a TEST_P suite for the devices of this build (see the file comment).
#if defined(LUCID_TEST_CUDA)
#define LUCID_INSTANTIATE_ON_DEVICES(Suite)                                          \
  INSTANTIATE_TEST_SUITE_P(Device, Suite, ::testing::Values(::lucid::Device::kCuda), \
                           ::lucid::testing::device_param_name)
#else
#define LUCID_INSTANTIATE_ON_DEVICES(Suite)                                         \
  INSTANTIATE_TEST_SUITE_P(Device, Suite, ::testing::Values(::lucid::Device::kCpu), \
                           ::lucid::testing::device_param_name)
#endif
