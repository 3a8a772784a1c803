// Fixture for tests of data flow on the emulated CUDA device above the kernels (models, planners,
// agents): the engine's CUDA backend registered, fibers in plain order. Why plain: these tests
// compare whole device paths with their CPU twins; every kernel they launch is swept under random
// fiber order by its own kernel test, and plain order keeps these at seconds.
#pragma once

#include "emu_fixture.h"
#include "lucid/engine/cuda_device.h"

namespace lucid::testing {

class DeviceFlowTest : public EmuTest {
 protected:
  void SetUp() override {
    EmuTest::SetUp();
    emu::set_random_order(false);
    use_cuda_device();
  }
};

}  // namespace lucid::testing
