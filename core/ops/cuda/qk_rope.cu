// QK-norm and rotary position embedding, in place on the queries and keys of qkv (tokens of 3C:
// q, k, v, each n_head heads of d = C / n_head). Neither touches the values.
#include "core/ops/cuda/common.cuh"
#include "core/ops/cuda/kernels.h"

namespace gpt::cuda {
namespace {

constexpr float kEps = 1e-5f;  // the norms' (layernorm.cu)
constexpr int kWarpsPerBlock = 4;
constexpr int kRopeThreads = 256;

// One warp per (token, head), heads 0 .. n_head−1 the queries and n_head .. 2·n_head−1 the keys:
// both sit in the first 2C of the token's row, head h at h·d; unit = token · heads + h is also
// the head's rstd index. Warps stride over the units, so any count fits the grid.
template <class T>
__global__ void qk_norm_forward_kernel(T* qkv, float* rstd, i64 units, i64 C, i64 d, i64 heads) {
  const int lane = threadIdx.x % 32;
  const i64 warps = static_cast<i64>(gridDim.x) * kWarpsPerBlock;
  for (i64 unit = static_cast<i64>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32; unit < units; unit += warps) {
    T* x = qkv + (unit / heads) * 3 * C + (unit % heads) * d;
    float s = 0;
    for (i64 c = lane; c < d; c += 32) s += to_float(x[c]) * to_float(x[c]);
    const float r = rsqrtf(warp_sum(s) / static_cast<float>(d) + kEps);
    for (i64 c = lane; c < d; c += 32) x[c] = from_float<T>(to_float(x[c]) * r);  // each lane its own elements
    if (lane == 0) rstd[unit] = r;
  }
}

// g ← rstd · (g − ŷ · mean(g · ŷ)), ŷ the normalised (possibly rotated) values in qkv; the
// same units as the forward.
template <class T>
__global__ void qk_norm_backward_kernel(T* dqkv, const T* qkv, const float* rstd, i64 units, i64 C, i64 d, i64 heads) {
  const int lane = threadIdx.x % 32;
  const i64 warps = static_cast<i64>(gridDim.x) * kWarpsPerBlock;
  for (i64 unit = static_cast<i64>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32; unit < units; unit += warps) {
    const i64 offset = (unit / heads) * 3 * C + (unit % heads) * d;
    const T* y = qkv + offset;
    T* g = dqkv + offset;
    float s = 0;
    for (i64 c = lane; c < d; c += 32) s += to_float(g[c]) * to_float(y[c]);
    const float gy_mean = warp_sum(s) / static_cast<float>(d), r = rstd[unit];
    for (i64 c = lane; c < d; c += 32) g[c] = from_float<T>(r * (to_float(g[c]) - to_float(y[c]) * gy_mean));
  }
}

// One thread per (token, pair c < d/2), for all 2·n_head query and key heads of the token: the
// angle and its sine and cosine in double (positions reach thousands of radians, where a float
// angle is off by 1e-4), once, then the rotation of each head in float, one rounding to T.
// Consecutive threads take consecutive pairs, so a warp's loads of a head are contiguous.
template <class T>
__global__ void rope_kernel(T* qkv, i64 tokens, i64 T_, i64 C, i64 d, i64 heads, i64 position0, double base,
                            bool inverse) {
  const i64 half = d / 2, n = tokens * half;
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<i64>(gridDim.x) * blockDim.x) {
    const i64 token = i / half, c = i % half;
    const double angle =
        static_cast<double>(position0 + token % T_) * pow(base, -2.0 * static_cast<double>(c) / static_cast<double>(d));
    double sin_d, cos_d;
    sincos(angle, &sin_d, &cos_d);
    const float cs = static_cast<float>(cos_d), sn = static_cast<float>(inverse ? -sin_d : sin_d);
    T* row = qkv + token * 3 * C;
    for (i64 h = 0; h < heads; ++h) {
      T* x = row + h * d;
      const float a = to_float(x[c]), b = to_float(x[c + half]);
      x[c] = from_float<T>(a * cs - b * sn);
      x[c + half] = from_float<T>(b * cs + a * sn);
    }
  }
}

}  // namespace

template <class T>
void qk_norm_forward(T* qkv, float* rstd, i64 tokens, i64 C, int n_head, cudaStream_t stream) {
  const i64 units = tokens * 2 * n_head;
  if (units == 0) return;
  launch(qk_norm_forward_kernel<T>, blocks_for(units, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream, qkv, rstd, units,
         C, C / n_head, static_cast<i64>(2 * n_head));
}

template <class T>
void qk_norm_backward(T* dqkv, const T* qkv, const float* rstd, i64 tokens, i64 C, int n_head, cudaStream_t stream) {
  const i64 units = tokens * 2 * n_head;
  if (units == 0) return;
  launch(qk_norm_backward_kernel<T>, blocks_for(units, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream, dqkv, qkv, rstd,
         units, C, C / n_head, static_cast<i64>(2 * n_head));
}

template <class T>
void rope(T* qkv, i64 B, i64 T_, i64 C, int n_head, i64 position0, double base, bool inverse, cudaStream_t stream) {
  const i64 d = C / n_head, threads = B * T_ * (d / 2);
  if (threads == 0) return;
  launch(rope_kernel<T>, blocks_for(threads, kRopeThreads), kRopeThreads, 0, stream, qkv, B * T_, T_, C, d,
         static_cast<i64>(2 * n_head), position0, base, inverse);
}

#define GPT_INSTANTIATE(T)                                                                    \
  template void qk_norm_forward<T>(T*, float*, i64, i64, int, cudaStream_t);                  \
  template void qk_norm_backward<T>(T*, const T*, const float*, i64, i64, int, cudaStream_t); \
  template void rope<T>(T*, i64, i64, i64, int, i64, double, bool, cudaStream_t);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(bf16)
#undef GPT_INSTANTIATE

}  // namespace gpt::cuda
