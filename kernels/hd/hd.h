// LUCID_HD: marks scalar math that is compiled for both the host and the device.
//
// Under nvcc or the CUDA emulator (LUCID_CUDA_EMU_COMPILE) it expands to __host__ __device__;
// in plain C++ it expands to nothing, so the same inline function serves the CPU kernels, the
// native CUDA kernels and the emulated ones — one definition, identical numbers.
#pragma once

#if defined(__CUDACC__) || defined(LUCID_CUDA_EMU_COMPILE)
#define LUCID_HD __host__ __device__
#else
#define LUCID_HD
#endif
