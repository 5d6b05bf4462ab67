// Deterministic reductions: fixed grids and fixed combination orders, never atomics, so the same
// inputs give bitwise the same sums on every run.
#include "core/ops/cuda/common.cuh"
#include "core/ops/cuda/kernels.h"

namespace gpt::cuda {
namespace {

__global__ void finish_column_partials_kernel(float* dst, const float* partials, i64 chunks, i64 C) {
  const i64 c = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float acc = 0;
  for (i64 k = 0; k < chunks; ++k) acc += partials[k * C + c];
  dst[c] += acc;
}

template <class T>
__global__ void column_partials_kernel(float* partials, const T* src, i64 N, i64 C, i64 chunks) {
  const i64 c = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  for (i64 chunk = blockIdx.y; chunk < chunks; chunk += gridDim.y) {
    const i64 end = min(N, (chunk + 1) * kColumnChunkRows);
    float acc = 0;
    for (i64 i = chunk * kColumnChunkRows; i < end; ++i) acc += to_float(src[i * C + c]);
    partials[chunk * C + c] = acc;
  }
}

// The same sums with 16-byte loads and enough loads in flight to keep memory busy (one thread per
// column and chunk, as above, leaves it mostly idle when C is a few hundred). A block covers
// 32·V columns (V per lane) of one chunk; its warps take the chunk's rows round-robin, then the
// warps' sums are added in warp order. Needs C % V == 0 and a 16-byte aligned src.
constexpr int kColumnWarps = 8;

template <class T>
__global__ void __launch_bounds__(32 * kColumnWarps)
    column_partials_vec_kernel(float* partials, const T* src, i64 N, i64 C, i64 chunks) {
  constexpr int V = kPack16<T>;
  __shared__ float sums[kColumnWarps][32 * V];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const i64 block_col = static_cast<i64>(blockIdx.x) * 32 * V, c0 = block_col + lane * V;
  for (i64 chunk = blockIdx.y; chunk < chunks; chunk += gridDim.y) {
    float acc[V] = {};
    if (c0 < C) {
      const i64 end = min(N, (chunk + 1) * kColumnChunkRows);
#pragma unroll 4
      for (i64 i = chunk * kColumnChunkRows + warp; i < end; i += kColumnWarps) {
        const Pack<T, V> p = *reinterpret_cast<const Pack<T, V>*>(src + i * C + c0);
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] += to_float(p.x[k]);
      }
    }
#pragma unroll
    for (int k = 0; k < V; ++k) sums[warp][lane * V + k] = acc[k];
    __syncthreads();
    for (int t = threadIdx.x; t < 32 * V; t += blockDim.x) {
      if (block_col + t >= C) continue;
      float total = 0;
      for (int w = 0; w < kColumnWarps; ++w) total += sums[w][t];
      partials[chunk * C + block_col + t] = total;
    }
    __syncthreads();  // sums is reused by the next chunk
  }
}

// Block b sums packs b, b + stride, ... (stride = kReduceBlocks · blockDim; a pack is N elements,
// 16 bytes where x is aligned, so a thread keeps more bytes in flight) into partials[b]; the
// elements past the last whole pack go to the first threads. The same n, N and grid give the
// same order, so the same sum.
template <class T, int N>
__global__ void sum_partials_kernel(double* partials, const T* x, i64 n, bool squares) {
  __shared__ double scratch[32];
  double acc = 0;
  const i64 stride = static_cast<i64>(gridDim.x) * blockDim.x, packs = n / N;
  const i64 first = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (i64 i = first; i < packs; i += stride) {
    const Pack<T, N> p = reinterpret_cast<const Pack<T, N>*>(x)[i];
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const double v = to_float(p.x[k]);
      acc += squares ? v * v : v;
    }
  }
  if (first < n - packs * N) {
    const double v = to_float(x[packs * N + first]);
    acc += squares ? v * v : v;
  }
  acc = block_reduce(acc, scratch, Add{}, 0.0);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void sum_finish_kernel(double* result, const double* partials, int count) {
  __shared__ double scratch[32];
  double acc = 0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
  acc = block_reduce(acc, scratch, Add{}, 0.0);
  if (threadIdx.x == 0) *result = acc;
}

}  // namespace

void finish_column_partials(float* dst, const float* partials, i64 chunks, i64 C, cudaStream_t stream) {
  launch(finish_column_partials_kernel, blocks_for(C, 128), 128, 0, stream, dst, partials, chunks, C);
}

template <class T>
void column_sum_accumulate(float* dst, const T* src, i64 N, i64 C, float* partials, cudaStream_t stream) {
  if (N == 0) return;
  const i64 chunks = column_chunks(N);
  constexpr int V = kPack16<T>;
  if (C % V == 0 && aligned16(src)) {
    const dim3 grid(blocks_for(C, 32 * V), chunk_grid_rows(chunks));
    launch(column_partials_vec_kernel<T>, grid, 32 * kColumnWarps, 0, stream, partials, src, N, C, chunks);
  } else {
    const dim3 grid(blocks_for(C, 128), chunk_grid_rows(chunks));
    launch(column_partials_kernel<T>, grid, 128, 0, stream, partials, src, N, C, chunks);
  }
  finish_column_partials(dst, partials, chunks, C, stream);
}

template <class T>
void sum(double* result_device, const T* x, i64 n, bool squares, double* partials, cudaStream_t stream) {
  constexpr int N = kPack16<T>;
  if (aligned16(x)) {
    launch(sum_partials_kernel<T, N>, kReduceBlocks, 256, 0, stream, partials, x, n, squares);
  } else {
    launch(sum_partials_kernel<T, 1>, kReduceBlocks, 256, 0, stream, partials, x, n, squares);
  }
  launch(sum_finish_kernel, 1, 256, 0, stream, result_device, partials, kReduceBlocks);
}

#define GPT_INSTANTIATE(T)                                                                  \
  template void column_sum_accumulate<T>(float*, const T*, i64, i64, float*, cudaStream_t); \
  template void sum<T>(double*, const T*, i64, bool, double*, cudaStream_t);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(bf16)
#undef GPT_INSTANTIATE

}  // namespace gpt::cuda
