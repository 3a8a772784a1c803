// lucid::cuda::StreamHandle: the stream argument of every <op>_cuda launcher, spelled without the
// CUDA headers so that kernel headers can declare launchers in plain C++ translation units.
// It is cudaStream_t, `struct CUstream_st*`, in both backends: the CUDA runtime's opaque stream
// natively, the emulator's stream under LUCID_EMU (which reuses the name). So a launcher has one
// signature and one mangled name, and code that only calls launchers (the engine) is compiled
// once and linked against either backend (a binary links one, never both).
#pragma once

struct CUstream_st;

namespace lucid::cuda {
using StreamHandle = ::CUstream_st*;
}  // namespace lucid::cuda
