// Tensor views, versions, the caching CPU pool and the per-step arena.
#include <gtest/gtest.h>

#include <cstdint>

#include "lucid/engine/memory.h"
#include "lucid/engine/tensor.h"
#include "lucid/error.h"

namespace lucid {
namespace {

TEST(Tensor, ShapeBasics) {
  const Shape s{2, 3, 4};
  EXPECT_EQ(s.dim(), 3);
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s.rows(), 6);
  EXPECT_EQ(s.cols(), 4);
  EXPECT_EQ(s[-1], 4);
  EXPECT_EQ(Shape{}.numel(), 1);
  EXPECT_THROW(Shape({1, 2, 3, 4, 5}), ShapeError);
}

TEST(Tensor, LeadingViewsShareStorageAndVersion) {
  Tensor t = Tensor::from({0, 1, 2, 3, 4, 5, 6, 7}, {4, 2});
  Tensor rows = t.view_rows(1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 2}));
  EXPECT_EQ(rows.data()[0], 2.f);
  Tensor row = t[3];
  EXPECT_EQ(row.shape(), Shape{2});
  EXPECT_EQ(row.data()[1], 7.f);
  const std::uint64_t v0 = t.version();
  rows.fill(9.f);  // writes through the view, bumps the shared version
  EXPECT_EQ(t.data()[2], 9.f);
  EXPECT_EQ(t.data()[5], 9.f);
  EXPECT_EQ(t.data()[6], 6.f);
  EXPECT_GT(t.version(), v0);
  EXPECT_THROW(t.view_rows(2, 5), ShapeError);
}

TEST(Tensor, CloneIsDeepDetachIsShallow) {
  Tensor t = Tensor::from({1, 2, 3}, {3});
  Tensor c = t.clone(), d = t.detach();
  t.data()[0] = 7.f;
  EXPECT_EQ(c.data()[0], 1.f);
  EXPECT_EQ(d.data()[0], 7.f);
}

TEST(Tensor, CudaWithoutBackendIsAClearError) {
  try {
    Tensor::empty({2, 2}, Device::kCuda);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA backend not built"), std::string::npos);
  }
}

TEST(CpuPool, AlignedAndReusesFreedBlocks) {
  CpuPool& pool = CpuPool::instance();
  void* first = nullptr;
  {
    Tensor a = Tensor::empty({1000, 37});
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % CpuPool::kAlignment, 0u);
    first = a.data();
  }
  const CpuPoolStats before = pool.stats();
  Tensor b = Tensor::empty({1000, 37});
  const CpuPoolStats after = pool.stats();
  EXPECT_EQ(b.data(), first);  // same size class, served from the free list
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
}

TEST(CpuPool, SizeClassesBoundWaste) {
  for (std::size_t bytes : {1u, 63u, 64u, 65u, 4096u, 4097u, 100000u, 1u << 20}) {
    const std::size_t r = CpuPool::round_size(bytes);
    EXPECT_GE(r, bytes);
    EXPECT_EQ(r % CpuPool::kAlignment, 0u);
    if (bytes > 4096) {
      EXPECT_LE(static_cast<double>(r), 1.125 * static_cast<double>(bytes) + 64);
    }
  }
}

TEST(Arena, ScopeRoutesAllocationsAndResetChecksLiveness) {
  Arena arena(1 << 16);
  {
    ArenaScope scope(arena);
    Tensor a = Tensor::empty({16, 16});
    EXPECT_GE(arena.used(), 16u * 16u * 4u);
    EXPECT_EQ(arena.live_blocks(), 1u);
    EXPECT_THROW(arena.reset(), Error);  // `a` still points into the arena
    const std::byte* p = reinterpret_cast<const std::byte*>(a.data());
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % CpuPool::kAlignment, 0u);
  }
  EXPECT_EQ(arena.live_blocks(), 0u);
  arena.reset();
  EXPECT_EQ(arena.used(), 0u);
  // Outside the scope tensors come from the pool again; too-large requests fall back to it.
  Tensor b = Tensor::empty({4});
  EXPECT_EQ(arena.used(), 0u);
  {
    ArenaScope scope(arena);
    Tensor big = Tensor::empty({1 << 20});
    EXPECT_EQ(arena.used(), 0u);
  }
}

}  // namespace
}  // namespace lucid
