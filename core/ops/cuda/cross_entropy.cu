// Softmax cross-entropy fused with its gradient: one block per row reads the logits twice (an
// online max and sum of exponentials, then the gradient, written in place if asked) and never
// writes probabilities on their own. Rows move 16 bytes at a time where the vocabulary width and
// the pointers allow it (GPT-2's padded 50304 does), element by element otherwise. With a
// soft-cap the logits are capped as they are read, y = cap · tanh(l / cap) in fp32 and never
// rounded to T, and the gradient is times the cap's derivative dy/dl = 1 − tanh²(l / cap).
#include "core/ops/cuda/common.cuh"
#include "core/ops/cuda/kernels.h"

namespace gpt::cuda {
namespace {

constexpr int kThreads = 512;

template <class T, int N>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_kernel(float* losses, T* dlogits, const T* logits, const std::int32_t* targets, i64 V, i64 real_vocab,
                         float dloss, float softcap) {
  __shared__ float scratch[32];
  const i64 row = blockIdx.x;
  const T* l = logits + row * V;
  const float inv_cap = softcap > 0 ? 1.0f / softcap : 0.0f;
  auto capped = [=](float x) { return softcap > 0 ? softcap * tanhf(x * inv_cap) : x; };
  // Online softmax statistics of this thread's columns: running max m and Σ exp(x − m).
  float m = -INFINITY, s = 0;
  for (i64 j0 = static_cast<i64>(threadIdx.x) * N; j0 < real_vocab; j0 += static_cast<i64>(blockDim.x) * N) {
    const Pack<T, N> p = *reinterpret_cast<const Pack<T, N>*>(l + j0);
#pragma unroll
    for (int k = 0; k < N; ++k) {
      if (j0 + k >= real_vocab) break;
      const float x = capped(to_float(p.x[k]));
      if (x > m) {
        s = s * __expf(m - x) + 1.0f;
        m = x;
      } else {
        s += __expf(x - m);
      }
    }
  }
  const float row_max = block_reduce(m, scratch, Max{}, -INFINITY);
  const float sum = block_reduce(m == -INFINITY ? 0.0f : s * __expf(m - row_max), scratch, Add{}, 0.0f);
  const i64 target = targets[row];
  const float target_logit = capped(to_float(l[target]));  // read before any thread overwrites it
  __syncthreads();
  if (threadIdx.x == 0) losses[row] = logf(sum) + row_max - target_logit;
  if (!dlogits) return;
  T* d = dlogits + row * V;
  const float inv_sum = 1.0f / sum;
  for (i64 j0 = static_cast<i64>(threadIdx.x) * N; j0 < V; j0 += static_cast<i64>(blockDim.x) * N) {
    const Pack<T, N> p = *reinterpret_cast<const Pack<T, N>*>(l + j0);
    Pack<T, N> g;
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const i64 j = j0 + k;
      float v = 0;
      if (j < real_vocab) {
        const float x = to_float(p.x[k]), t = softcap > 0 ? tanhf(x * inv_cap) : 0.0f;
        const float y = softcap > 0 ? softcap * t : x;  // capped(x)
        v = (__expf(y - row_max) * inv_sum - (j == target ? 1.0f : 0.0f)) * dloss;
        if (softcap > 0) v *= 1.0f - t * t;
      }
      g.x[k] = from_float<T>(v);
    }
    *reinterpret_cast<Pack<T, N>*>(d + j0) = g;
  }
}

}  // namespace

template <class T>
void cross_entropy(float* losses, T* dlogits, const T* logits, const std::int32_t* targets, i64 N, i64 V,
                   i64 real_vocab, float dloss, float softcap, cudaStream_t stream) {
  if (N == 0) return;
  constexpr int kVector = 16 / sizeof(T);
  const bool vectors = V % kVector == 0 && reinterpret_cast<std::uintptr_t>(logits) % 16 == 0 &&
                       reinterpret_cast<std::uintptr_t>(dlogits) % 16 == 0;
  if (vectors) {
    launch(cross_entropy_kernel<T, kVector>, static_cast<unsigned>(N), kThreads, 0, stream, losses, dlogits, logits,
           targets, V, real_vocab, dloss, softcap);
  } else {
    launch(cross_entropy_kernel<T, 1>, static_cast<unsigned>(N), kThreads, 0, stream, losses, dlogits, logits, targets,
           V, real_vocab, dloss, softcap);
  }
}

template void cross_entropy<float>(float*, float*, const float*, const std::int32_t*, i64, i64, i64, float, float,
                                   cudaStream_t);
template void cross_entropy<bf16>(float*, bf16*, const bf16*, const std::int32_t*, i64, i64, i64, float, float,
                                  cudaStream_t);

}  // namespace gpt::cuda
