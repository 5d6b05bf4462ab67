// Causal self-attention without a T×T matrix. bf16 with head size 32 or 64 (GPT-2's is 64) runs
// on the tensor cores (flash_attention.h). Everything else, fp32 above all, which must match the
// CPU to 1e-5, runs here on CUDA cores: one warp per query row streams over the keys with an
// online softmax and keeps only the row's log-sum-exp for the backward, which recomputes the
// probabilities. Both backwards are two passes, dq by query rows and dk/dv by key rows, so every
// gradient element is written by one thread and the result is deterministic without atomics.
#include <type_traits>

#include "core/ops/cuda/common.cuh"
#include "core/ops/cuda/kernels.h"

namespace gpt::cuda {
namespace {

constexpr int kWarps = 4;                   // warps (rows) per block
constexpr int kPerLane = kMaxHeadDim / 32;  // head elements each lane holds

struct Layout {
  i64 T, C, hd;
  int NH;
  // Row index r runs over (b, h, t) with t fastest.
  __device__ i64 b(i64 r) const { return r / (NH * T); }
  __device__ i64 h(i64 r) const { return (r / T) % NH; }
  __device__ i64 t(i64 r) const { return r % T; }
  __device__ i64 q_at(i64 b, i64 t, i64 h) const { return (b * T + t) * 3 * C + h * hd; }
  __device__ i64 k_at(i64 b, i64 t, i64 h) const { return q_at(b, t, h) + C; }
  __device__ i64 v_at(i64 b, i64 t, i64 h) const { return q_at(b, t, h) + 2 * C; }
  __device__ i64 y_at(i64 b, i64 t, i64 h) const { return (b * T + t) * C + h * hd; }
};

template <class T>
__device__ void load(float (&dst)[kPerLane], const T* src, i64 hd, int lane, float scale = 1.0f) {
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const i64 d = lane + 32 * j;
    dst[j] = d < hd ? to_float(src[d]) * scale : 0.0f;
  }
}

template <class T>
__device__ float dot(const float (&a)[kPerLane], const T* b, i64 hd, int lane) {
  float s = 0;
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const i64 d = lane + 32 * j;
    if (d < hd) s += a[j] * to_float(b[d]);
  }
  return warp_sum(s);
}

template <class T>
__device__ void store(T* dst, const float (&src)[kPerLane], i64 hd, int lane, float scale = 1.0f) {
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const i64 d = lane + 32 * j;
    if (d < hd) dst[d] = from_float<T>(src[j] * scale);
  }
}

template <class T>
__global__ void forward_kernel(T* out, float* lse, const T* qkv, i64 rows, Layout L, float scale) {
  const i64 r = static_cast<i64>(blockIdx.x) * kWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  const i64 b = L.b(r), h = L.h(r), t = L.t(r);
  float q[kPerLane], acc[kPerLane] = {};
  load(q, qkv + L.q_at(b, t, h), L.hd, lane, scale);
  float m = -INFINITY, l = 0;
  for (i64 s = 0; s <= t; ++s) {
    const float score = dot(q, qkv + L.k_at(b, s, h), L.hd, lane);
    const float m_new = fmaxf(m, score);
    const float correction = __expf(m - m_new);
    const float p = __expf(score - m_new);
    l = l * correction + p;
    const T* v = qkv + L.v_at(b, s, h);
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const i64 d = lane + 32 * j;
      acc[j] = acc[j] * correction + (d < L.hd ? p * to_float(v[d]) : 0.0f);
    }
    m = m_new;
  }
  store(out + L.y_at(b, t, h), acc, L.hd, lane, 1.0f / l);
  if (lane == 0) lse[r] = m + logf(l);
}

// delta[r] = Σ_d dout·out for query row r: the softmax backward's per-row correction.
template <class T>
__global__ void delta_kernel(float* delta, const T* dout, const T* out, i64 rows, Layout L) {
  const i64 r = static_cast<i64>(blockIdx.x) * kWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  float o[kPerLane];
  load(o, out + L.y_at(L.b(r), L.t(r), L.h(r)), L.hd, lane);
  const float d = dot(o, dout + L.y_at(L.b(r), L.t(r), L.h(r)), L.hd, lane);
  if (lane == 0) delta[r] = d;
}

// dq[t] = scale · Σ_{s≤t} p_ts (dp_ts − delta_t) k_s, with dp_ts = dout_t · v_s.
template <class T>
__global__ void dq_kernel(T* dqkv, const T* dout, const T* qkv, const float* lse, const float* delta, i64 rows,
                          Layout L, float scale) {
  const i64 r = static_cast<i64>(blockIdx.x) * kWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  const i64 b = L.b(r), h = L.h(r), t = L.t(r);
  float q[kPerLane], g[kPerLane], dq[kPerLane] = {};
  load(q, qkv + L.q_at(b, t, h), L.hd, lane, scale);
  load(g, dout + L.y_at(b, t, h), L.hd, lane);
  const float row_lse = lse[r], row_delta = delta[r];
  for (i64 s = 0; s <= t; ++s) {
    const T* k = qkv + L.k_at(b, s, h);
    const float p = __expf(dot(q, k, L.hd, lane) - row_lse);
    const float ds = p * (dot(g, qkv + L.v_at(b, s, h), L.hd, lane) - row_delta);
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const i64 d = lane + 32 * j;
      if (d < L.hd) dq[j] += ds * to_float(k[d]);
    }
  }
  store(dqkv + L.q_at(b, t, h), dq, L.hd, lane, scale);
}

// For key row s: dv_s = Σ_{t≥s} p_ts dout_t and dk_s = scale · Σ_{t≥s} p_ts (dp_ts − delta_t) q_t.
template <class T>
__global__ void dkv_kernel(T* dqkv, const T* dout, const T* qkv, const float* lse, const float* delta, i64 rows,
                           Layout L, float scale) {
  const i64 r = static_cast<i64>(blockIdx.x) * kWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  const i64 b = L.b(r), h = L.h(r), s = L.t(r);
  float k[kPerLane], v[kPerLane], dk[kPerLane] = {}, dv[kPerLane] = {};
  load(k, qkv + L.k_at(b, s, h), L.hd, lane, scale);
  load(v, qkv + L.v_at(b, s, h), L.hd, lane);
  const i64 row0 = r - s;  // row index of (b, h, t = 0)
  for (i64 t = s; t < L.T; ++t) {
    const T* q = qkv + L.q_at(b, t, h);
    const T* g = dout + L.y_at(b, t, h);
    const float p = __expf(dot(k, q, L.hd, lane) - lse[row0 + t]);
    const float ds = p * (dot(v, g, L.hd, lane) - delta[row0 + t]);
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const i64 d = lane + 32 * j;
      if (d < L.hd) {
        dv[j] += p * to_float(g[d]);
        dk[j] += ds * to_float(q[d]);
      }
    }
  }
  store(dqkv + L.k_at(b, s, h), dk, L.hd, lane, scale);
  store(dqkv + L.v_at(b, s, h), dv, L.hd, lane);
}

Layout layout(i64 T_, i64 C, int NH) {
  const i64 hd = C / NH;
  if (hd > kMaxHeadDim) throw std::invalid_argument("CUDA attention supports head sizes up to 128");
  return Layout{T_, C, hd, NH};
}

}  // namespace

template <class T>
void attention_forward(T* out, float* lse, const T* qkv, i64 B, i64 T_, i64 C, int NH, cudaStream_t stream) {
  if constexpr (std::is_same_v<T, bf16>) {
    if (flash_attention_applies(B, C, NH, {out, qkv}))
      return flash_attention_forward(out, lse, qkv, B, T_, C, NH, stream);
  }
  const Layout L = layout(T_, C, NH);
  const i64 rows = B * NH * T_;
  const float scale = 1.0f / sqrtf(static_cast<float>(L.hd));
  launch(forward_kernel<T>, blocks_for(rows, kWarps), 32 * kWarps, 0, stream, out, lse, qkv, rows, L, scale);
}

template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse, float* delta, i64 B,
                        i64 T_, i64 C, int NH, cudaStream_t stream) {
  const Layout L = layout(T_, C, NH);
  const i64 rows = B * NH * T_;
  const float scale = 1.0f / sqrtf(static_cast<float>(L.hd));
  const unsigned blocks = blocks_for(rows, kWarps);
  launch(delta_kernel<T>, blocks, 32 * kWarps, 0, stream, delta, dout, out, rows, L);
  if constexpr (std::is_same_v<T, bf16>) {
    if (flash_attention_applies(B, C, NH, {dqkv, dout, qkv}))
      return flash_attention_backward(dqkv, dout, qkv, lse, delta, B, T_, C, NH, stream);
  }
  launch(dq_kernel<T>, blocks, 32 * kWarps, 0, stream, dqkv, dout, qkv, lse, delta, rows, L, scale);
  launch(dkv_kernel<T>, blocks, 32 * kWarps, 0, stream, dqkv, dout, qkv, lse, delta, rows, L, scale);
}

#define GPT_INSTANTIATE(T)                                                                                        \
  template void attention_forward<T>(T*, float*, const T*, i64, i64, i64, int, cudaStream_t);                     \
  template void attention_backward<T>(T*, const T*, const T*, const T*, const float*, float*, i64, i64, i64, int, \
                                      cudaStream_t);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(bf16)
#undef GPT_INSTANTIATE

}  // namespace gpt::cuda
