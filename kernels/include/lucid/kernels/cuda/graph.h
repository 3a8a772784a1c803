// CUDA graph capture and replay on a stream (kernels/cuda/graph.cu), for code that reaches the
// device through the engine's launcher table and so cannot name the CUDA runtime itself (the
// planners).
//
// graph_capture_begin_cuda: the stream starts recording (thread-local capture mode) instead of
//   running; every launch, cuBLAS call and device-to-device copy enqueued on it until
//   graph_capture_end_cuda becomes a node. Nothing may synchronise the stream meanwhile (no
//   host copies): the runtime refuses it, and so does the emulator.
// graph_capture_end_cuda: ends the capture and returns an instantiated graph (cudaGraphExec_t as
//   an opaque pointer; the recorded graph itself is freed). Replay with graph_launch_cuda, free
//   with graph_destroy_cuda. A replay reads and writes the very addresses the capture saw, with
//   the launch arguments the capture saw: whatever changes between replays must live in device
//   memory that the nodes read, at the same address.
#pragma once

#include "lucid/kernels/cuda/stream.h"

namespace lucid::kernels {

void graph_capture_begin_cuda(cuda::StreamHandle stream);
void* graph_capture_end_cuda(cuda::StreamHandle stream);
void graph_launch_cuda(void* graph_exec, cuda::StreamHandle stream);
void graph_destroy_cuda(void* graph_exec);

}  // namespace lucid::kernels
