// CUDA graph capture / replay launchers (contract: lucid/kernels/cuda/graph.h). Host code only:
// thin checked wrappers over the runtime (or the emulator's record-and-replay of the same API).
#include "lucid/kernels/cuda/graph.h"
#include "lucid/kernels/cuda/runtime.h"

namespace lucid::kernels {

void graph_capture_begin_cuda(cuda::StreamHandle stream) {
  LUCID_CHECK(stream != nullptr) << "graph capture needs a created stream, not the legacy default stream";
  LUCID_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
}

void* graph_capture_end_cuda(cuda::StreamHandle stream) {
  cudaGraph_t graph = nullptr;
  LUCID_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  LUCID_CUDA_CHECK(err);
  return exec;
}

void graph_launch_cuda(void* graph_exec, cuda::StreamHandle stream) {
  LUCID_CHECK(graph_exec != nullptr) << "graph_launch: no graph";
  LUCID_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph_exec), stream));
}

void graph_destroy_cuda(void* graph_exec) {
  if (graph_exec) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph_exec));
}

}  // namespace lucid::kernels
