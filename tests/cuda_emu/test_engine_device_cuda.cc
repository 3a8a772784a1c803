// lucid::Tensor on the CUDA device: the engine's DeviceBackend seam backed by the caching device
// allocator and the compute stream (engine/cuda/cuda_backend.cc). Tensors move to the device and
// back unchanged, live in device memory, are cleared on the device, and reuse cached blocks.
#include <gtest/gtest.h>

#include <vector>

#include "emu_fixture.h"
#include "lucid/engine/cuda_device.h"
#include "lucid/engine/tensor.h"
#include "lucid/kernels/cuda/device_memory.h"
#include "lucid/kernels/cuda/layernorm.h"
#include "lucid/kernels/layernorm.h"
#include "lucid_test.h"

namespace lucid {
namespace {

using testing::all_close;
using testing::random_vector;

class EngineDeviceCuda : public testing::EmuTest {
 protected:
  void SetUp() override {
    testing::EmuTest::SetUp();
    if (IsSkipped()) return;
    use_cuda_device();
  }
};

TEST_F(EngineDeviceCuda, TensorsRoundTripThroughDeviceMemory) {
  const auto values = random_vector(6 * 7, 1);
  const Tensor host = Tensor::from(values, Shape{6, 7});
  const Tensor dev = host.to(Device::kCuda);
  EXPECT_EQ(dev.device(), Device::kCuda);
  EXPECT_NE(dev.data(), host.data());
#if defined(LUCID_EMU)
  EXPECT_TRUE(emu::is_device_pointer(dev.data(), values.size() * sizeof(float)));
#endif
  const Tensor copy = dev.clone();  // device to device
  EXPECT_EQ(copy.to(Device::kCpu).to_vector(), values);
  EXPECT_EQ(Tensor::zeros(Shape{3, 5}, Device::kCuda).to(Device::kCpu).to_vector(),
            std::vector<float>(15, 0.f));
  EXPECT_EQ(Tensor::full(Shape{4}, 2.5f, Device::kCuda).to(Device::kCpu).to_vector(),
            std::vector<float>(4, 2.5f));
}

TEST_F(EngineDeviceCuda, KernelsRunOnTensorStorageAndBlocksAreReused) {
  const std::int64_t rows = 5, cols = 48;
  const auto x = random_vector(static_cast<std::size_t>(rows * cols), 2);
  const auto g = random_vector(cols, 3, 0.5f, 1.5f), b = random_vector(cols, 4);
  const Tensor dx = Tensor::from(x, Shape{rows, cols}, Device::kCuda),
               dg = Tensor::from(g, Shape{cols}, Device::kCuda),
               db = Tensor::from(b, Shape{cols}, Device::kCuda);
  const Tensor y = Tensor::empty(Shape{rows, cols}, Device::kCuda),
               mean = Tensor::empty(Shape{rows}, Device::kCuda),
               rstd = Tensor::empty(Shape{rows}, Device::kCuda);
  kernels::layernorm_forward_cuda(dx.data(), dg.data(), db.data(), y.data(), mean.data(), rstd.data(), rows,
                                  cols, 1e-5f, true, cuda_compute_stream());
  std::vector<float> ref(x.size()), m(rows), r(rows);
  kernels::layernorm_forward_cpu(x.data(), g.data(), b.data(), ref.data(), m.data(), r.data(), rows, cols,
                                 1e-5f, true);
  EXPECT_TRUE(all_close(y.to(Device::kCpu).to_vector().data(), ref.data(), ref.size(), 1e-5, 1e-4));

  Tensor::empty(Shape{rows, cols}, Device::kCuda);  // first use of this size: one cudaMalloc, then cached
  const std::uint64_t mallocs = cuda::DeviceCache::instance().stats().device_mallocs;
  for (int i = 0; i < 3; ++i) {
    const Tensor t = Tensor::empty(Shape{rows, cols}, Device::kCuda);  // freed at the end of each pass
  }
  EXPECT_EQ(cuda::DeviceCache::instance().stats().device_mallocs, mallocs)
      << "steady state allocates nothing";
}

}  // namespace
}  // namespace lucid
