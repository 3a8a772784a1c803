// lucid::Rng — a Philox4x32-10 stream: (seed, stream) pick the stream, offset is the position in it.
//
// Layout (shared with the CUDA kernels through kernels/hd/philox.h): the stream is a sequence of
// 128-bit blocks; block b is philox_block(seed, stream, b) and yields 4 words. offset() is the
// index of the next unused block. A bulk draw of n values starting at offset o uses blocks
// o .. o + ceil(n/4) - 1 (element i comes from block o + i/4, word i%4) and leaves the offset at
// o + ceil(n/4): the unused words of a last, partial block are skipped, so that a CUDA kernel can
// compute any element's block from (o, i) alone. A single draw (uniform(), normal()) uses one
// block. Normal draws pair words (0,1) and (2,3) of a block through Box-Muller.
//
// Checkpointing an Rng is saving (seed, stream, offset); set_offset() restores it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lucid {

class Rng {
 public:
  explicit Rng(std::uint64_t seed, std::uint64_t stream = 0) : seed_(seed), stream_(stream) {}

  void uniform(float* out, std::size_t n);  // U[0,1)
  void normal(float* out, std::size_t n);   // N(0,1)
  // Inverted-dropout mask with drop probability p: element i is 1 / (1 - p) when the U[0,1) value
  // uniform(out, n) would put there is >= p, else 0 (same blocks, same offset advance). One pass.
  void dropout_mask(float* out, std::size_t n, float p);
  float uniform();
  float normal();

  std::uint64_t seed() const { return seed_; }
  std::uint64_t stream() const { return stream_; }
  std::uint64_t offset() const { return offset_; }
  void set_offset(std::uint64_t offset) { offset_ = offset; }

 private:
  std::uint64_t seed_;
  std::uint64_t stream_;
  std::uint64_t offset_ = 0;
};

}  // namespace lucid
