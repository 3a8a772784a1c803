// lucid::cuda::StreamHandle: the stream argument of every <op>_cuda launcher, spelled without the
// CUDA headers so that kernel headers can declare launchers in plain C++ translation units.
// It is exactly cudaStream_t of the backend being built: `struct CUstream_st*` natively, the
// emulator's stream under LUCID_EMU (a binary links one backend, never both).
#pragma once

#if defined(LUCID_EMU)
namespace lucid::emu {
struct Stream;
}
namespace lucid::cuda {
using StreamHandle = ::lucid::emu::Stream*;
}
#else
struct CUstream_st;
namespace lucid::cuda {
using StreamHandle = ::CUstream_st*;
}
#endif
