// Copy and fill of large float arrays, split over lucid's OpenMP threads.
//
// Why: a training step copies and zeroes tens of megabytes (the gradient arena before each
// backward, each Q head's input rows); done by one thread, the other threads wait for it. One
// thread does not reach the memory bandwidth of two, so these split the range into one
// contiguous block per thread above a size threshold and stay serial below it.
// Memory contract: dst is written with `=` over [0, n); src and dst must not overlap.
#pragma once

#include <cstdint>

namespace lucid::kernels {

void copy_cpu(const float* src, float* dst, std::int64_t n);
void fill_cpu(float* dst, std::int64_t n, float value);

}  // namespace lucid::kernels
