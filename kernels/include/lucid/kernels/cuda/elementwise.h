// CUDA elementwise kernels (kernels/cuda/elementwise.cu): the arguments and contracts of
// lucid/kernels/elementwise.h plus a stream, and the few elementwise helpers the engine needs on
// the device (fill, accumulate, broadcast-expand).
//
// unary_{forward,backward}_cuda, binary_{forward,backward}_cuda: as the CPU twins. Outputs and
//   input gradients are written with `=`; binary backward sums over the dims along which that
//   input was broadcast (deterministically: one thread per input element loops over them).
// fill_cuda: x[i] = value for n floats.
// accumulate_cuda: dst[i] += src[i] for n floats (the tape's gradient sum).
// expand_cuda: dst[o] = scale * src[bcast(o)] over dst's extents, numpy broadcasting of src
//   (Dims4 left-padded with 1s): a bias copied to every row, a row gradient spread over columns.
// All pointers are device pointers.
#pragma once

#include <cstdint>

#include "lucid/kernels/cuda/stream.h"
#include "lucid/kernels/elementwise.h"

namespace lucid::kernels {

void unary_forward_cuda(UnaryOp op, const float* x, float* y, std::int64_t n, float a, float b,
                        cuda::StreamHandle stream);
void unary_backward_cuda(UnaryOp op, const float* x, const float* y, const float* gy, float* gx,
                         std::int64_t n, float a, float b, cuda::StreamHandle stream);

void binary_forward_cuda(BinaryOp op, const float* a, Dims4 a_dims, const float* b, Dims4 b_dims, float* out,
                         Dims4 out_dims, cuda::StreamHandle stream);
void binary_backward_cuda(BinaryOp op, const float* a, Dims4 a_dims, const float* b, Dims4 b_dims,
                          const float* gout, Dims4 out_dims, float* ga, float* gb, cuda::StreamHandle stream);

void fill_cuda(float* x, std::int64_t n, float value, cuda::StreamHandle stream);
void accumulate_cuda(float* dst, const float* src, std::int64_t n, cuda::StreamHandle stream);
void expand_cuda(const float* src, Dims4 src_dims, float* dst, Dims4 dst_dims, float scale,
                 cuda::StreamHandle stream);

}  // namespace lucid::kernels
