// lucid::Tensor — an fp32 array of up to 4 dims on one device, contiguous and row-major.
//
// A Tensor is a handle (shared_ptr) to a TensorImpl: storage + element offset + shape + autograd
// state. Copying a Tensor copies the handle, not the data. Storage is shared between a tensor and
// its leading-dimension views (view_rows, operator[], reshape), which is how a model's parameters
// are views into one arena block. Storage carries a version counter that in-place writers (the
// optimizer, copy_from, fill) bump, so caches keyed on (data pointer, version) — such as the
// small-batch GEMM's pre-packed weights — know when they went stale.
//
// Memory comes from the device's allocator (memory.h): the 64-byte-aligned caching CPU pool, or
// the per-step Arena while an ArenaScope is active on this thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace lucid {

enum class Device : std::uint8_t { kCpu, kCuda };
const char* device_name(Device d);

inline constexpr int kMaxDims = 4;

// Up to kMaxDims extents; a 0-dim shape is a scalar with one element.
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(const std::vector<std::int64_t>& dims);

  int dim() const { return ndim_; }
  std::int64_t operator[](int d) const { return dims_[d < 0 ? d + ndim_ : d]; }
  std::int64_t& operator[](int d) { return dims_[d < 0 ? d + ndim_ : d]; }
  std::int64_t numel() const;
  // Product of all dims but the last: the number of rows a row kernel sees.
  std::int64_t rows() const { return ndim_ == 0 ? 1 : numel() / dims_[ndim_ - 1]; }
  std::int64_t cols() const { return ndim_ == 0 ? 1 : dims_[ndim_ - 1]; }
  std::vector<std::int64_t> vec() const { return {dims_.begin(), dims_.begin() + ndim_}; }
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;

 private:
  std::array<std::int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

// A block of device memory with a version counter. Freed through the allocator that made it.
class Storage {
 public:
  Storage(std::size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  std::uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_;
  std::uint64_t version_ = 0;
  class Arena* arena_ = nullptr;  // set when the block came from a per-step arena
};

struct Node;  // autograd.h
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation (new storage) ----
  static Tensor empty(const Shape& shape, Device device = Device::kCpu);
  static Tensor zeros(const Shape& shape, Device device = Device::kCpu);
  static Tensor full(const Shape& shape, float value, Device device = Device::kCpu);
  static Tensor ones(const Shape& shape, Device device = Device::kCpu) { return full(shape, 1.f, device); }
  static Tensor from(const std::vector<float>& values, const Shape& shape, Device device = Device::kCpu);
  static Tensor scalar(float value, Device device = Device::kCpu) { return full(Shape{}, value, device); }

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int dim() const { return shape().dim(); }
  std::int64_t size(int d) const { return shape()[d]; }
  std::int64_t numel() const { return shape().numel(); }
  Device device() const;
  bool is_cpu() const { return device() == Device::kCpu; }

  // ---- data (contiguous; the pointer is to the first element of this view) ----
  float* data() const;
  const std::shared_ptr<Storage>& storage() const;
  std::uint64_t version() const;
  void bump_version() const;  // call after writing through data() so caches notice
  std::vector<float> to_vector() const;
  float item() const;  // the value of a 1-element tensor

  // ---- views sharing storage; no autograd (use ops slice/reshape for differentiable ones) ----
  Tensor view_rows(std::int64_t begin, std::int64_t end) const;  // [begin, end) of dim 0
  Tensor operator[](std::int64_t i) const;                       // drops dim 0
  Tensor view(const Shape& shape) const;                         // same numel, same storage

  // ---- copies and in-place writes (bump the version) ----
  Tensor clone() const;
  Tensor to(Device device) const;
  void copy_from(const Tensor& src) const;
  void fill(float value) const;

  // ---- autograd ----
  bool requires_grad() const;
  // Marks a leaf as needing a gradient; returns *this so `Tensor::zeros(..).set_requires_grad()` chains.
  Tensor& set_requires_grad(bool on = true);
  bool is_leaf() const;                  // no grad_fn
  Tensor grad() const;                   // undefined until a backward reached it
  void set_grad(const Tensor& g) const;  // e.g. a view into a parameter arena's grad block
  void zero_grad() const;                // fills an existing grad with 0 (keeps the buffer)
  Tensor detach() const;                 // same storage, no history, requires_grad false
  const std::shared_ptr<Node>& grad_fn() const;

  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::size_t offset = 0;  // in floats
  Shape shape;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;  // set on op outputs recorded on the tape
  Tensor grad;                    // leaves only
};

}  // namespace lucid
