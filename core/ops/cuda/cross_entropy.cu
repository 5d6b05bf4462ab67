// Softmax cross-entropy fused with its gradient: one block per row reads the logits three times
// (max, sum of exponentials, gradient) and never writes probabilities on their own.
#include "core/ops/cuda/common.cuh"
#include "core/ops/cuda/kernels.h"

namespace gpt::cuda {
namespace {

constexpr int kThreads = 512;

template <class T>
__global__ void cross_entropy_kernel(float* losses, T* dlogits, const T* logits, const std::int32_t* targets, i64 V,
                                     i64 real_vocab, float dloss) {
  __shared__ float scratch[32];
  const i64 row = blockIdx.x;
  const T* l = logits + row * V;
  float maxv = -INFINITY;
  for (i64 j = threadIdx.x; j < real_vocab; j += blockDim.x) maxv = fmaxf(maxv, to_float(l[j]));
  maxv = block_reduce(maxv, scratch, Max{}, -INFINITY);
  float sum = 0;
  for (i64 j = threadIdx.x; j < real_vocab; j += blockDim.x) sum += __expf(to_float(l[j]) - maxv);
  sum = block_reduce(sum, scratch, Add{}, 0.0f);
  const i64 target = targets[row];
  const float target_logit = to_float(l[target]);  // read before any thread overwrites it
  __syncthreads();
  if (threadIdx.x == 0) losses[row] = logf(sum) + maxv - target_logit;
  if (!dlogits) return;
  T* d = dlogits + row * V;
  const float inv_sum = 1.0f / sum;
  for (i64 j = threadIdx.x; j < V; j += blockDim.x) {
    float g = 0;
    if (j < real_vocab) g = (__expf(to_float(l[j]) - maxv) * inv_sum - (j == target ? 1.0f : 0.0f)) * dloss;
    d[j] = from_float<T>(g);
  }
}

}  // namespace

template <class T>
void cross_entropy(float* losses, T* dlogits, const T* logits, const std::int32_t* targets, i64 N, i64 V,
                   i64 real_vocab, float dloss, cudaStream_t stream) {
  if (N == 0) return;
  cross_entropy_kernel<<<static_cast<unsigned>(N), kThreads, 0, stream>>>(losses, dlogits, logits, targets, V,
                                                                          real_vocab, dloss);
  GPT_CUDA_LAUNCHED();
}

template void cross_entropy<float>(float*, float*, const float*, const std::int32_t*, i64, i64, i64, float,
                                   cudaStream_t);
template void cross_entropy<bf16>(float*, bf16*, const bf16*, const std::int32_t*, i64, i64, i64, float, cudaStream_t);

}  // namespace gpt::cuda
