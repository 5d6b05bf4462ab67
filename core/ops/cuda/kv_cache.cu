// The KV cache: writing new keys and values into it, and attention of new queries over it.
// Decoding one token per row reads each head's whole cache once per layer, so cached attention
// is bound by memory bandwidth and latency, not arithmetic: the kernel keeps the loads coalesced
// and the block busy rather than using the tensor cores.
#include "core/ops/cuda/common.cuh"
#include "core/ops/cuda/kernels.h"

namespace gpt::cuda {
namespace {

constexpr int kCopyThreads = 256;

// k_cache[b, position + t] = qkv[b, t, C:2C] and v_cache likewise, N elements per move; i runs over
// (b, t, pack) with the pack fastest, so a warp moves consecutive bytes of one row.
template <class T, int N>
__global__ void kv_cache_write_kernel(T* k_cache, T* v_cache, const T* qkv, i64 n, i64 T_, i64 C, i64 S, i64 position) {
  using P = Pack<T, N>;
  const i64 packs = C / N;
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<i64>(gridDim.x) * blockDim.x) {
    const i64 row = i / packs, c = i % packs * N;  // row = b·T + t
    const i64 b = row / T_, t = row % T_;
    const T* src = qkv + row * 3 * C + c;
    const i64 at = (b * S + position + t) * C + c;
    *reinterpret_cast<P*>(k_cache + at) = *reinterpret_cast<const P*>(src + C);
    *reinterpret_cast<P*>(v_cache + at) = *reinterpret_cast<const P*>(src + 2 * C);
  }
}

// Cached attention: one block per query (b, h, t), which sees cache positions 0 .. position + t.
//   1. scores: warp w takes positions w, w + kWarps, ...; its lanes split the head (the query
//      sits in registers, pre-scaled), so each key row is one coalesced load and a warp_sum.
//   2. softmax: block max and block sum of the chunk's scores (common.cuh's block_reduce).
//   3. out[d] = Σ_s p_s·v_s[d]: the block splits into groups of hd threads, group g taking
//      positions g, g + groups, ...; thread d of a group reads v_s[d], so a group's loads of one
//      row are consecutive. The groups' partial sums are added in order at the end.
// Scores go through shared memory kChunk at a time with an online softmax across chunks (the
// running max m and sum l, the accumulators rescaled by exp(m_old − m_new)), so any cache length
// fits in a fixed 4 KiB: one chunk covers GPT-2's 1024 positions. Everything is fp32 whatever T.
// Loads are of single elements, so no alignment is assumed of C, the head size or the buffers;
// within a warp they are consecutive, which is what the memory system rewards. Occupancy: 256
// threads and 4.1 KiB of shared memory a block let eight blocks share an SM; a decode step's grid
// (B·NH blocks) is smaller than the GPU anyway, so more threads a block keep more loads in flight.
constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kPerLane = kMaxHeadDim / 32;  // head elements each lane holds
constexpr int kChunk = 1024;                // scores in shared memory at a time; ≥ kThreads (see the end)

template <class T>
__global__ void __launch_bounds__(kThreads)
    cached_attention_kernel(T* out, const T* qkv, const T* k_cache, const T* v_cache, i64 T_, i64 C, i64 S,
                            i64 position, int NH, int hd, float scale) {
  __shared__ float p[kChunk];
  __shared__ float scratch[32];
  const i64 r = blockIdx.x;  // (b, h, t), t fastest
  const i64 t = r % T_, h = r / T_ % NH, b = r / (T_ * NH);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const i64 visible = position + t + 1;
  const T* k = k_cache + b * S * C + h * hd;  // position s at k + s·C
  const T* v = v_cache + b * S * C + h * hd;

  float q[kPerLane];
  const T* qr = qkv + (b * T_ + t) * 3 * C + h * hd;
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const int d = lane + 32 * j;
    q[j] = d < hd ? to_float(qr[d]) * scale : 0.0f;
  }
  // The value phase's split: hd ≤ kMaxHeadDim < kThreads, so there are at least two groups; the
  // kThreads % hd threads left over idle there.
  const int groups = kThreads / hd, group = static_cast<int>(threadIdx.x) / hd, d = static_cast<int>(threadIdx.x) % hd;
  const bool in_group = group < groups;

  float m = -INFINITY, l = 0, acc = 0;
  for (i64 s0 = 0; s0 < visible; s0 += kChunk) {
    const int n = static_cast<int>(min(visible - s0, static_cast<i64>(kChunk)));
    for (int i = warp; i < n; i += kWarps) {  // warp-uniform: the whole warp takes part in warp_sum
      const T* kr = k + (s0 + i) * C;
      float part = 0;
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) {
        const int e = lane + 32 * j;
        if (e < hd) part += q[j] * to_float(kr[e]);
      }
      const float score = warp_sum(part);
      if (lane == 0) p[i] = score;
    }
    __syncthreads();  // every score written before any thread reads another warp's
    float local_max = -INFINITY;
    for (int i = threadIdx.x; i < n; i += kThreads) local_max = fmaxf(local_max, p[i]);
    const float m_new = fmaxf(m, block_reduce(local_max, scratch, Max{}, -INFINITY));
    const float correction = __expf(m - m_new);  // 0 for the first chunk, where m = −∞ and l = acc = 0
    // Each p[i] is rewritten by the thread that read it for the max, so the two phases cannot race.
    float local_sum = 0;
    for (int i = threadIdx.x; i < n; i += kThreads) {
      const float e = __expf(p[i] - m_new);
      p[i] = e;
      local_sum += e;
    }
    // block_reduce's barriers come after every thread's writes above, so all of p is visible after it.
    l = l * correction + block_reduce(local_sum, scratch, Add{}, 0.0f);
    if (in_group) {
      float a = 0;
      for (int i = group; i < n; i += groups) a += p[i] * to_float(v[(s0 + i) * C + d]);
      acc = acc * correction + a;
    }
    m = m_new;
    __syncthreads();  // the value phase has read p before the next chunk's scores overwrite it
  }
  // The groups' partial sums, group g's at p[g·hd + d] = p[threadIdx.x] (groups·hd ≤ kThreads ≤
  // kChunk), then added in group order by the first hd threads.
  if (in_group) p[threadIdx.x] = acc;
  __syncthreads();
  if (static_cast<int>(threadIdx.x) < hd) {
    float o = 0;
    for (int g = 0; g < groups; ++g) o += p[g * hd + threadIdx.x];
    out[(b * T_ + t) * C + h * hd + threadIdx.x] = from_float<T>(o / l);
  }
}

}  // namespace

template <class T>
void kv_cache_write(T* k_cache, T* v_cache, const T* qkv, i64 B, i64 T_, i64 C, i64 S, i64 position,
                    cudaStream_t stream) {
  if (B * T_ * C == 0) return;
  constexpr int N = kPack16<T>;
  // 16-byte moves when every row starts on 16 bytes: C a multiple of the pack and the buffers
  // aligned (then qkv's k and v thirds and every cache row are too).
  if (C % N == 0 && aligned16(k_cache) && aligned16(v_cache) && aligned16(qkv)) {
    const i64 n = B * T_ * (C / N);
    launch(kv_cache_write_kernel<T, N>, blocks_for(n, kCopyThreads), kCopyThreads, 0, stream, k_cache, v_cache, qkv, n,
           T_, C, S, position);
  } else {
    const i64 n = B * T_ * C;
    launch(kv_cache_write_kernel<T, 1>, blocks_for(n, kCopyThreads), kCopyThreads, 0, stream, k_cache, v_cache, qkv, n,
           T_, C, S, position);
  }
}

template <class T>
void cached_attention_forward(T* out, const T* qkv, const T* k_cache, const T* v_cache, i64 B, i64 T_, i64 C, i64 S,
                              i64 position, int NH, cudaStream_t stream) {
  static_assert(kMaxHeadDim < kThreads && kThreads <= kChunk, "the kernel's split of the block (see the end)");
  const i64 blocks = B * NH * T_, hd = C / NH;
  if (blocks == 0 || hd == 0) return;
  if (hd > kMaxHeadDim) throw std::invalid_argument("CUDA cached attention supports head sizes up to 128");
  const float scale = 1.0f / sqrtf(static_cast<float>(hd));
  launch(cached_attention_kernel<T>, static_cast<unsigned>(blocks), kThreads, 0, stream, out, qkv, k_cache, v_cache, T_,
         C, S, position, NH, static_cast<int>(hd), scale);
}

#define GPT_INSTANTIATE(T)                                                                                  \
  template void kv_cache_write<T>(T*, T*, const T*, i64, i64, i64, i64, i64, cudaStream_t);                 \
  template void cached_attention_forward<T>(T*, const T*, const T*, const T*, i64, i64, i64, i64, i64, int, \
                                            cudaStream_t);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(bf16)
#undef GPT_INSTANTIATE

}  // namespace gpt::cuda
