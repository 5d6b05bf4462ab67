#include "core/ops/cuda/common.cuh"
#include "core/ops/cuda/kernels.h"

namespace gpt::cuda {
namespace {

template <class T>
__global__ void embedding_forward_kernel(T* out, const std::int32_t* tokens, const T* wte, const T* wpe, i64 T_,
                                         i64 C) {
  const i64 row = blockIdx.x;  // one block per (b, t)
  const T* w = wte + static_cast<i64>(tokens[row]) * C;
  if (!wpe) {  // no learned positions (RoPE)
    for (i64 c = threadIdx.x; c < C; c += blockDim.x) out[row * C + c] = w[c];
    return;
  }
  const T* p = wpe + (row % T_) * C;
  for (i64 c = threadIdx.x; c < C; c += blockDim.x) out[row * C + c] = from_float<T>(to_float(w[c]) + to_float(p[c]));
}

template <class T>
__global__ void embedding_backward_wte_kernel(float* dwte, const T* dout, const std::int32_t* order,
                                              const std::int32_t* run_start, const std::int32_t* run_token, i64 C) {
  const i64 run = blockIdx.x;
  float* row = dwte + static_cast<i64>(run_token[run]) * C;
  for (i64 c = threadIdx.x; c < C; c += blockDim.x) {
    float acc = 0;
    for (std::int32_t k = run_start[run]; k < run_start[run + 1]; ++k) acc += to_float(dout[order[k] * C + c]);
    row[c] += acc;
  }
}

template <class T>
__global__ void embedding_backward_wpe_kernel(float* dwpe, const T* dout, i64 B, i64 T_, i64 C) {
  const i64 idx = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x;  // (t, c)
  if (idx >= T_ * C) return;
  const i64 t = idx / C, c = idx % C;
  float acc = 0;
  for (i64 b = 0; b < B; ++b) acc += to_float(dout[(b * T_ + t) * C + c]);
  dwpe[idx] += acc;
}

}  // namespace

template <class T>
void embedding_forward(T* out, const std::int32_t* tokens, const T* wte, const T* wpe, i64 B, i64 T_, i64 C,
                       cudaStream_t stream) {
  if (B * T_ == 0) return;
  launch(embedding_forward_kernel<T>, static_cast<unsigned>(B * T_), 256, 0, stream, out, tokens, wte, wpe, T_, C);
}

template <class T>
void embedding_backward_wte(float* dwte, const T* dout, const std::int32_t* order, const std::int32_t* run_start,
                            const std::int32_t* run_token, i64 runs, i64 C, cudaStream_t stream) {
  if (runs == 0) return;
  launch(embedding_backward_wte_kernel<T>, static_cast<unsigned>(runs), 256, 0, stream, dwte, dout, order, run_start,
         run_token, C);
}

template <class T>
void embedding_backward_wpe(float* dwpe, const T* dout, i64 B, i64 T_, i64 C, cudaStream_t stream) {
  launch(embedding_backward_wpe_kernel<T>, blocks_for(T_ * C, 256), 256, 0, stream, dwpe, dout, B, T_, C);
}

#define GPT_INSTANTIATE(T)                                                                                      \
  template void embedding_forward<T>(T*, const std::int32_t*, const T*, const T*, i64, i64, i64, cudaStream_t); \
  template void embedding_backward_wte<T>(float*, const T*, const std::int32_t*, const std::int32_t*,           \
                                          const std::int32_t*, i64, i64, cudaStream_t);                         \
  template void embedding_backward_wpe<T>(float*, const T*, i64, i64, i64, cudaStream_t);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(bf16)
#undef GPT_INSTANTIATE

}  // namespace gpt::cuda
