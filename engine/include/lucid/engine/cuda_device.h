// The CUDA device for lucid::Tensor: registers a DeviceBackend (memory.h) for Device::kCuda that
// allocates from the caching device allocator (lucid/kernels/cuda/device_memory.h) and copies and
// clears on lucid's one compute stream. Built twice from engine/cuda/cuda_backend.cc: against the
// native runtime (lucid_engine_cuda) and against the emulator (lucid_engine_cuda_emu); a binary
// links one of them and calls use_cuda_device() once before making CUDA tensors.
#pragma once

#include "lucid/kernels/cuda/stream.h"

namespace lucid {

// Registers the backend for Device::kCuda (idempotent). Throws lucid::CudaError when the
// machine has no usable CUDA device.
void use_cuda_device();

// The stream every CUDA op of the engine enqueues on (created on first use).
cuda::StreamHandle cuda_compute_stream();

}  // namespace lucid
