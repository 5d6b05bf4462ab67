#include "core/ops/cuda/common.cuh"
#include "core/ops/cuda/kernels.h"

namespace gpt::cuda {
namespace {

constexpr float kEps = 1e-5f;
constexpr int kWarpsPerBlock = 4;

// One warp per row: mean, then variance about the mean (two passes over the row, for accuracy).
// kRms makes it RMSNorm: rstd from mean(x²), in the first pass; no mean (none subtracted, none
// saved) and no bias. With b given, the row is x = a + b, formed in fp32 and rounded to T as the stored residual is,
// written to `residual`, and normalised from those rounded values: bitwise what add() followed
// by a plain LayerNorm (RMSNorm) of the residual gives, one pass over the residual stream cheaper.
template <class T, bool kRms>
__global__ void layernorm_forward_kernel(T* out, float* mean, float* rstd, T* residual, const T* a, const T* b,
                                         const T* weight, const T* bias, i64 N, i64 C) {
  const i64 row = static_cast<i64>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const T* ar = a + row * C;
  // Σ x, or Σ x² for RMSNorm.
  auto moment = [](float x) { return kRms ? x * x : x; };
  float s = 0;
  if (b) {
    const T* br = b + row * C;
    T* rr = residual + row * C;
    for (i64 c = lane; c < C; c += 32) {
      const T x = from_float<T>(to_float(ar[c]) + to_float(br[c]));
      rr[c] = x;
      s += moment(to_float(x));
    }
  } else {
    for (i64 c = lane; c < C; c += 32) s += moment(to_float(ar[c]));
  }
  const T* xr = b ? residual + row * C : ar;  // this lane reads back only what it wrote itself
  float m = 0, r;
  if constexpr (kRms) {
    r = rsqrtf(warp_sum(s) / static_cast<float>(C) + kEps);
  } else {
    m = warp_sum(s) / static_cast<float>(C);
    float v = 0;
    for (i64 c = lane; c < C; c += 32) {
      const float d = to_float(xr[c]) - m;
      v += d * d;
    }
    r = rsqrtf(warp_sum(v) / static_cast<float>(C) + kEps);
  }
  T* o = out + row * C;
  for (i64 c = lane; c < C; c += 32) {
    const float y = (to_float(xr[c]) - m) * r * to_float(weight[c]) + (!kRms && bias ? to_float(bias[c]) : 0.0f);
    o[c] = from_float<T>(y);
  }
  if (lane == 0) {
    if constexpr (!kRms) mean[row] = m;
    rstd[row] = r;
  }
}

// dx += rstd · (g − mean(g) − x̂ · mean(g·x̂)), g = dout · weight; one warp per row. RMSNorm:
// x̂ = x · rstd and no mean(g) term (mean is not read).
template <class T, bool kRms>
__global__ void layernorm_backward_dx_kernel(T* dx, const T* dout, const T* x, const T* weight, const float* mean,
                                             const float* rstd, i64 N, i64 C) {
  const i64 row = static_cast<i64>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const T* xr = x + row * C;
  const T* dr = dout + row * C;
  const float m = kRms ? 0.0f : mean[row], r = rstd[row];
  float g_sum = 0, gx_sum = 0;
  for (i64 c = lane; c < C; c += 32) {
    const float g = to_float(dr[c]) * to_float(weight[c]);
    if constexpr (!kRms) g_sum += g;
    gx_sum += g * (to_float(xr[c]) - m) * r;
  }
  const float g_mean = kRms ? 0.0f : warp_sum(g_sum) / static_cast<float>(C);
  const float gx_mean = warp_sum(gx_sum) / static_cast<float>(C);
  T* d = dx + row * C;
  for (i64 c = lane; c < C; c += 32) {
    const float xhat = (to_float(xr[c]) - m) * r;
    const float g = to_float(dr[c]) * to_float(weight[c]);
    d[c] = from_float<T>(to_float(d[c]) + r * (g - g_mean - xhat * gx_mean));
  }
}

// Per chunk of kColumnChunkRows rows, one thread per column: Σ dout·x̂ and (LayerNorm only, for
// dbias) Σ dout.
template <class T, bool kRms>
__global__ void layernorm_backward_partials_kernel(float* partials, const T* dout, const T* x, const float* mean,
                                                   const float* rstd, i64 N, i64 C, i64 chunks) {
  const i64 c = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  for (i64 chunk = blockIdx.y; chunk < chunks; chunk += gridDim.y) {
    const i64 end = min(N, (chunk + 1) * kColumnChunkRows);
    float dw = 0, db = 0;
    for (i64 i = chunk * kColumnChunkRows; i < end; ++i) {
      const float d = to_float(dout[i * C + c]);
      dw += d * (to_float(x[i * C + c]) - (kRms ? 0.0f : mean[i])) * rstd[i];
      if constexpr (!kRms) db += d;
    }
    partials[chunk * C + c] = dw;
    if constexpr (!kRms) partials[(chunks + chunk) * C + c] = db;
  }
}

// The same partials with 16-byte loads, laid out as column_partials_vec_kernel (reduce.cu) does
// for the same reason: enough loads in flight. Needs C % V == 0 and 16-byte aligned x and dout.
constexpr int kPartialWarps = 8;

template <class T, bool kRms>
__global__ void __launch_bounds__(32 * kPartialWarps)
    layernorm_backward_partials_vec_kernel(float* partials, const T* dout, const T* x, const float* mean,
                                           const float* rstd, i64 N, i64 C, i64 chunks) {
  constexpr int V = kPack16<T>;
  constexpr int kSums = kRms ? 1 : 2;  // Σ dout·x̂, and Σ dout for LayerNorm's bias
  __shared__ float sums[kSums][kPartialWarps][32 * V];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const i64 block_col = static_cast<i64>(blockIdx.x) * 32 * V, c0 = block_col + lane * V;
  for (i64 chunk = blockIdx.y; chunk < chunks; chunk += gridDim.y) {
    float dw[V] = {}, db[V] = {};
    if (c0 < C) {
      const i64 end = min(N, (chunk + 1) * kColumnChunkRows);
#pragma unroll 2
      for (i64 i = chunk * kColumnChunkRows + warp; i < end; i += kPartialWarps) {
        const Pack<T, V> d = *reinterpret_cast<const Pack<T, V>*>(dout + i * C + c0);
        const Pack<T, V> xv = *reinterpret_cast<const Pack<T, V>*>(x + i * C + c0);
        const float m = kRms ? 0.0f : mean[i], r = rstd[i];
#pragma unroll
        for (int k = 0; k < V; ++k) {
          const float g = to_float(d.x[k]);
          dw[k] += g * (to_float(xv.x[k]) - m) * r;
          if constexpr (!kRms) db[k] += g;
        }
      }
    }
#pragma unroll
    for (int k = 0; k < V; ++k) {
      sums[0][warp][lane * V + k] = dw[k];
      if constexpr (!kRms) sums[kSums - 1][warp][lane * V + k] = db[k];
    }
    __syncthreads();
    for (int t = threadIdx.x; t < 32 * V; t += blockDim.x) {
      if (block_col + t >= C) continue;
      float w_total = 0, b_total = 0;
      for (int w = 0; w < kPartialWarps; ++w) {
        w_total += sums[0][w][t];
        if constexpr (!kRms) b_total += sums[kSums - 1][w][t];
      }
      partials[chunk * C + block_col + t] = w_total;
      if constexpr (!kRms) partials[(chunks + chunk) * C + block_col + t] = b_total;
    }
    __syncthreads();
  }
}

template <bool kRms, class T>
void forward(T* residual, T* out, float* mean, float* rstd, const T* a, const T* b, const T* weight, const T* bias,
             i64 N, i64 C, cudaStream_t stream) {
  if (N == 0) return;
  launch(layernorm_forward_kernel<T, kRms>, blocks_for(N, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream, out, mean,
         rstd, residual, a, b, weight, bias, N, C);
}

// dx, then dweight (and dbias) from per-chunk column partials added in chunk order.
template <bool kRms, class T>
void backward(T* dx, float* dweight, float* dbias, const T* dout, const T* x, const T* weight, const float* mean,
              const float* rstd, i64 N, i64 C, float* partials, cudaStream_t stream) {
  if (N == 0) return;
  launch(layernorm_backward_dx_kernel<T, kRms>, blocks_for(N, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream, dx, dout,
         x, weight, mean, rstd, N, C);
  const i64 chunks = column_chunks(N);
  constexpr int V = kPack16<T>;
  if (C % V == 0 && aligned16(dout) && aligned16(x)) {
    const dim3 grid(blocks_for(C, 32 * V), chunk_grid_rows(chunks));
    launch(layernorm_backward_partials_vec_kernel<T, kRms>, grid, 32 * kPartialWarps, 0, stream, partials, dout, x,
           mean, rstd, N, C, chunks);
  } else {
    const dim3 grid(blocks_for(C, 128), chunk_grid_rows(chunks));
    launch(layernorm_backward_partials_kernel<T, kRms>, grid, 128, 0, stream, partials, dout, x, mean, rstd, N, C,
           chunks);
  }
  finish_column_partials(dweight, partials, chunks, C, stream);
  if (!kRms && dbias) finish_column_partials(dbias, partials + chunks * C, chunks, C, stream);
}

}  // namespace

i64 layernorm_partials_numel(i64 N, i64 C) {
  return 2 * column_chunks(N) * C;
}

template <class T>
void layernorm_forward(T* out, float* mean, float* rstd, const T* x, const T* weight, const T* bias, i64 N, i64 C,
                       cudaStream_t stream) {
  forward<false>(static_cast<T*>(nullptr), out, mean, rstd, x, static_cast<const T*>(nullptr), weight, bias, N, C,
                 stream);
}

template <class T>
void residual_layernorm_forward(T* residual, T* out, float* mean, float* rstd, const T* a, const T* b, const T* weight,
                                const T* bias, i64 N, i64 C, cudaStream_t stream) {
  forward<false>(residual, out, mean, rstd, a, b, weight, bias, N, C, stream);
}

template <class T>
void layernorm_backward(T* dx, float* dweight, float* dbias, const T* dout, const T* x, const T* weight,
                        const float* mean, const float* rstd, i64 N, i64 C, float* partials, cudaStream_t stream) {
  backward<false>(dx, dweight, dbias, dout, x, weight, mean, rstd, N, C, partials, stream);
}

template <class T>
void rmsnorm_forward(T* out, float* rstd, const T* x, const T* weight, i64 N, i64 C, cudaStream_t stream) {
  forward<true>(static_cast<T*>(nullptr), out, static_cast<float*>(nullptr), rstd, x, static_cast<const T*>(nullptr),
                weight, static_cast<const T*>(nullptr), N, C, stream);
}

template <class T>
void residual_rmsnorm_forward(T* residual, T* out, float* rstd, const T* a, const T* b, const T* weight, i64 N, i64 C,
                              cudaStream_t stream) {
  forward<true>(residual, out, static_cast<float*>(nullptr), rstd, a, b, weight, static_cast<const T*>(nullptr), N, C,
                stream);
}

template <class T>
void rmsnorm_backward(T* dx, float* dweight, const T* dout, const T* x, const T* weight, const float* rstd, i64 N,
                      i64 C, float* partials, cudaStream_t stream) {
  backward<true>(dx, dweight, static_cast<float*>(nullptr), dout, x, weight, static_cast<const float*>(nullptr), rstd,
                 N, C, partials, stream);
}

#define GPT_INSTANTIATE(T)                                                                                          \
  template void layernorm_forward<T>(T*, float*, float*, const T*, const T*, const T*, i64, i64, cudaStream_t);     \
  template void residual_layernorm_forward<T>(T*, T*, float*, float*, const T*, const T*, const T*, const T*, i64,  \
                                              i64, cudaStream_t);                                                   \
  template void layernorm_backward<T>(T*, float*, float*, const T*, const T*, const T*, const float*, const float*, \
                                      i64, i64, float*, cudaStream_t);                                              \
  template void rmsnorm_forward<T>(T*, float*, const T*, const T*, i64, i64, cudaStream_t);                         \
  template void residual_rmsnorm_forward<T>(T*, T*, float*, const T*, const T*, const T*, i64, i64, cudaStream_t);  \
  template void rmsnorm_backward<T>(T*, float*, const T*, const T*, const T*, const float*, i64, i64, float*,       \
                                    cudaStream_t);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(bf16)
#undef GPT_INSTANTIATE

}  // namespace gpt::cuda
