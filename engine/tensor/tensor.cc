// Tensor, Shape and Storage basics: creation, views, copies (see tensor.h).
#include "lucid/engine/tensor.h"

#include <sstream>

#include "lucid/engine/autograd.h"
#include "lucid/engine/cuda_launchers.h"
#include "lucid/engine/memory.h"
#include "lucid/error.h"

namespace lucid {

// ---- Shape ----
Shape::Shape(std::initializer_list<std::int64_t> dims) : Shape(std::vector<std::int64_t>(dims)) {}

Shape::Shape(const std::vector<std::int64_t>& dims) {
  LUCID_CHECK_SHAPE(dims.size() <= kMaxDims) << "at most " << kMaxDims << " dims, got " << dims.size();
  ndim_ = static_cast<int>(dims.size());
  for (int i = 0; i < ndim_; ++i) {
    LUCID_CHECK_SHAPE(dims[i] >= 0) << "negative extent " << dims[i] << " in dim " << i;
    dims_[i] = dims[i];
  }
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= dims_[i];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (ndim_ != o.ndim_) return false;
  for (int i = 0; i < ndim_; ++i)
    if (dims_[i] != o.dims_[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << "(";
  for (int i = 0; i < ndim_; ++i) os << (i ? ", " : "") << dims_[i];
  os << ")";
  return os.str();
}

// ---- Tensor ----
namespace {
const Shape kEmptyShape;
const std::shared_ptr<Node> kNoNode;
const std::shared_ptr<Storage> kNoStorage;

std::shared_ptr<TensorImpl> make_impl(const Shape& shape, Device device) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<std::size_t>(shape.numel()) * sizeof(float), device);
  impl->shape = shape;
  return impl;
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, Device device) { return Tensor(make_impl(shape, device)); }

Tensor Tensor::zeros(const Shape& shape, Device device) {
  Tensor t = empty(shape, device);
  device_backend(device).memset_zero(t.data(), t.numel() * sizeof(float));
  return t;
}

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  if (device == Device::kCuda) {  // a fill launch: no host buffer, no host-device sync (backward's seed)
    Tensor t = empty(shape, device);
    t.fill(value);
    return t;
  }
  Tensor t = empty(shape, Device::kCpu);
  float* p = t.data();
  for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = value;
  return t;
}

Tensor Tensor::from(const std::vector<float>& values, const Shape& shape, Device device) {
  LUCID_CHECK_SHAPE(static_cast<std::int64_t>(values.size()) == shape.numel())
      << values.size() << " values for shape " << shape.str();
  Tensor t = empty(shape, Device::kCpu);
  std::copy(values.begin(), values.end(), t.data());
  return device == Device::kCpu ? t : t.to(device);
}

const Shape& Tensor::shape() const { return impl_ ? impl_->shape : kEmptyShape; }

Device Tensor::device() const {
  LUCID_CHECK(impl_) << "undefined tensor";
  return impl_->storage->device();
}

float* Tensor::data() const {
  LUCID_CHECK(impl_) << "undefined tensor";
  return static_cast<float*>(impl_->storage->data()) + impl_->offset;
}

const std::shared_ptr<Storage>& Tensor::storage() const { return impl_ ? impl_->storage : kNoStorage; }
std::uint64_t Tensor::version() const { return impl_->storage->version(); }
void Tensor::bump_version() const { impl_->storage->bump_version(); }

std::vector<float> Tensor::to_vector() const {
  const Tensor host = is_cpu() ? *this : to(Device::kCpu);
  return std::vector<float>(host.data(), host.data() + host.numel());
}

float Tensor::item() const {
  LUCID_CHECK_SHAPE(numel() == 1) << "item() of a tensor with shape " << shape().str();
  return is_cpu() ? data()[0] : to(Device::kCpu).data()[0];
}

Tensor Tensor::view_rows(std::int64_t begin, std::int64_t end) const {
  LUCID_CHECK_SHAPE(dim() >= 1 && 0 <= begin && begin <= end && end <= size(0))
      << "rows [" << begin << ", " << end << ") of shape " << shape().str();
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  impl->shape[0] = end - begin;
  impl->offset =
      impl_->offset + static_cast<std::size_t>(begin * (numel() / std::max<std::int64_t>(size(0), 1)));
  return Tensor(std::move(impl));
}

Tensor Tensor::operator[](std::int64_t i) const {
  Tensor rows = view_rows(i, i + 1);
  std::vector<std::int64_t> dims = shape().vec();
  dims.erase(dims.begin());
  return rows.view(Shape(dims));
}

Tensor Tensor::view(const Shape& shape) const {
  LUCID_CHECK_SHAPE(shape.numel() == numel()) << "view " << shape.str() << " of " << this->shape().str();
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = impl_->offset;
  impl->shape = shape;
  return Tensor(std::move(impl));
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape(), device());
  device_backend(device()).copy(t.data(), device(), data(), device(), numel() * sizeof(float));
  return t;
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor t = empty(shape(), d);
  DeviceBackend& owner = device_backend(d == Device::kCpu ? device() : d);
  owner.copy(t.data(), d, data(), device(), numel() * sizeof(float));
  return t;
}

void Tensor::copy_from(const Tensor& src) const {
  LUCID_CHECK_SHAPE(src.numel() == numel()) << "copy of " << src.shape().str() << " into " << shape().str();
  DeviceBackend& owner = device_backend(device() == Device::kCpu ? src.device() : device());
  owner.copy(data(), device(), src.data(), src.device(), numel() * sizeof(float));
  bump_version();
}

void Tensor::fill(float value) const {
  if (value == 0.f) {
    device_backend(device()).memset_zero(data(), numel() * sizeof(float));
  } else if (device() == Device::kCuda) {
    cuda_launchers().fill(data(), numel(), value, cuda_launchers().stream);
  } else {
    float* p = data();
    for (std::int64_t i = 0, n = numel(); i < n; ++i) p[i] = value;
  }
  bump_version();
}

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  LUCID_CHECK(impl_) << "undefined tensor";
  LUCID_CHECK(is_leaf() || on) << "cannot turn off requires_grad of a non-leaf; use detach()";
  impl_->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return !impl_ || !impl_->grad_fn; }
Tensor Tensor::grad() const { return impl_ ? impl_->grad : Tensor(); }

void Tensor::set_grad(const Tensor& g) const {
  LUCID_CHECK(impl_) << "undefined tensor";
  LUCID_CHECK_SHAPE(!g.defined() || g.shape() == shape())
      << "grad of shape " << g.shape().str() << " for a tensor of shape " << shape().str();
  impl_->grad = g;
}

void Tensor::zero_grad() const {
  if (impl_ && impl_->grad.defined()) impl_->grad.fill(0.f);
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = impl_->offset;
  impl->shape = impl_->shape;
  return Tensor(std::move(impl));
}

const std::shared_ptr<Node>& Tensor::grad_fn() const { return impl_ ? impl_->grad_fn : kNoNode; }

}  // namespace lucid
