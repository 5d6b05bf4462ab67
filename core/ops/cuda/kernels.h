#pragma once
// Launchers of the CUDA kernels, one file per op (T is the activation type: float or bf16).
// Statistics, parameter gradients and optimizer state are always fp32. All run on `stream`.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>

#include "core/ops/backend.h"

namespace gpt::cuda {

using i64 = std::int64_t;

// ---- embedding.cu ----
template <class T>
void embedding_forward(T* out, const std::int32_t* tokens, const T* wte, const T* wpe, i64 B, i64 T_, i64 C,
                       cudaStream_t stream);
// Positions grouped by token on the host (a stable counting sort): run r covers
// order[run_start[r] .. run_start[r+1]) and belongs to token run_token[r]. One block per run adds
// its positions in order, so the result is deterministic without atomics.
template <class T>
void embedding_backward_wte(float* dwte, const T* dout, const std::int32_t* order, const std::int32_t* run_start,
                            const std::int32_t* run_token, i64 runs, i64 C, cudaStream_t stream);
template <class T>
void embedding_backward_wpe(float* dwpe, const T* dout, i64 B, i64 T_, i64 C, cudaStream_t stream);

// ---- layernorm.cu ----
template <class T>
void layernorm_forward(T* out, float* mean, float* rstd, const T* x, const T* weight, const T* bias, i64 N, i64 C,
                       cudaStream_t stream);
// residual = a + b, out = LayerNorm(residual), in one pass (see the kernel).
template <class T>
void residual_layernorm_forward(T* residual, T* out, float* mean, float* rstd, const T* a, const T* b, const T* weight,
                                const T* bias, i64 N, i64 C, cudaStream_t stream);
// `partials` needs layernorm_partials_numel(N, C) floats.
i64 layernorm_partials_numel(i64 N, i64 C);
template <class T>
void layernorm_backward(T* dx, float* dweight, float* dbias, const T* dout, const T* x, const T* weight,
                        const float* mean, const float* rstd, i64 N, i64 C, float* partials, cudaStream_t stream);
// RMSNorm, the same kernels without the mean and the bias; `partials` as layernorm_backward's.
template <class T>
void rmsnorm_forward(T* out, float* rstd, const T* x, const T* weight, i64 N, i64 C, cudaStream_t stream);
template <class T>
void residual_rmsnorm_forward(T* residual, T* out, float* rstd, const T* a, const T* b, const T* weight, i64 N, i64 C,
                              cudaStream_t stream);
template <class T>
void rmsnorm_backward(T* dx, float* dweight, const T* dout, const T* x, const T* weight, const float* rstd, i64 N,
                      i64 C, float* partials, cudaStream_t stream);

// ---- reduce.cu ----
// Rows are reduced in chunks of kColumnChunkRows; partial sums per chunk are then added in order.
constexpr i64 kColumnChunkRows = 256;
inline i64 column_chunks(i64 N) {
  return (N + kColumnChunkRows - 1) / kColumnChunkRows;
}
// Grid rows for a chunked reduction: at most 65535 (the grid.y limit); kernels stride over chunks.
inline unsigned chunk_grid_rows(i64 chunks) {
  return static_cast<unsigned>(chunks < 65535 ? chunks : 65535);
}
// dst[c] += Σ_chunks partials[chunk·C + c], chunks in order.
void finish_column_partials(float* dst, const float* partials, i64 chunks, i64 C, cudaStream_t stream);
// dst[c] += Σ_rows src[row·C + c] (a bias gradient). partials: column_chunks(N)·C floats.
template <class T>
void column_sum_accumulate(float* dst, const T* src, i64 N, i64 C, float* partials, cudaStream_t stream);
// Σ x or Σ x², in double, in a fixed order; partials: kReduceBlocks + 1 doubles on the device.
constexpr int kReduceBlocks = 512;
template <class T>
void sum(double* result_device, const T* x, i64 n, bool squares, double* partials, cudaStream_t stream);

// ---- attention.cu ----  (lse: B·NH·T floats; delta: B·NH·T floats of scratch)
constexpr int kMaxHeadDim = 128;
template <class T>
void attention_forward(T* out, float* lse, const T* qkv, i64 B, i64 T_, i64 C, int NH, cudaStream_t stream);
template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse, float* delta, i64 B,
                        i64 T_, i64 C, int NH, cudaStream_t stream);

// ---- kv_cache.cu ---- (caches (B, S, C); qkv (B, T, 3C); see Backend's kv_cache_write and
// cached_attention_forward. Head sizes up to kMaxHeadDim; any cache length.)
template <class T>
void kv_cache_write(T* k_cache, T* v_cache, const T* qkv, i64 B, i64 T_, i64 C, i64 S, i64 position,
                    cudaStream_t stream);
template <class T>
void cached_attention_forward(T* out, const T* qkv, const T* k_cache, const T* v_cache, i64 B, i64 T_, i64 C, i64 S,
                              i64 position, int NH, cudaStream_t stream);

// ---- flash_attention.cu ---- (bf16 on tensor cores; attention_forward/backward pick it themselves)
bool flash_attention_applies(i64 B, i64 C, int NH, std::initializer_list<const void*> buffers);
void flash_attention_forward(__nv_bfloat16* out, float* lse, const __nv_bfloat16* qkv, i64 B, i64 T_, i64 C, int NH,
                             cudaStream_t stream);
// delta: Σ_d dout·out per query row, computed beforehand.
void flash_attention_backward(__nv_bfloat16* dqkv, const __nv_bfloat16* dout, const __nv_bfloat16* qkv,
                              const float* lse, const float* delta, i64 B, i64 T_, i64 C, int NH, cudaStream_t stream);

// ---- elementwise.cu ----
template <class T>
void gelu_forward(T* out, const T* x, i64 n, cudaStream_t stream);
template <class T>
void gelu_backward(T* dx, const T* dout, const T* x, i64 n, cudaStream_t stream);
template <class T>
void relu2_forward(T* out, const T* x, i64 n, cudaStream_t stream);
template <class T>
void relu2_backward(T* dx, const T* dout, const T* x, i64 n, cudaStream_t stream);
// out = cap · tanh(x / cap); out may alias x.
template <class T>
void softcap(T* out, const T* x, i64 n, float cap, cudaStream_t stream);
template <class T>
void swiglu_forward(T* out, const T* x, i64 N, i64 H, cudaStream_t stream);
template <class T>
void swiglu_backward(T* dx, const T* dout, const T* x, i64 N, i64 H, cudaStream_t stream);
template <class T>
void add(T* out, const T* a, const T* b, i64 n, cudaStream_t stream);
// out[r·ld + c] += bias[c] for r < rows, c < cols: a matmul's bias where cuBLASLt cannot fuse it.
template <class T>
void add_bias(T* out, const T* bias, i64 rows, i64 cols, i64 ld, cudaStream_t stream);
template <class T>
void dropout(T* out, const T* x, i64 n, double p, std::uint64_t key, cudaStream_t stream);
template <class D, class S>
void convert(D* dst, const S* src, i64 n, cudaStream_t stream);
void adamw(float* param, const float* grad, float* m, float* v, i64 n, const AdamWStep& step, cudaStream_t stream);

// ---- qk_rope.cu ----
// In place on the queries and keys of qkv (B·T tokens of 3C): QK-norm with one rstd per token and
// head (n_head query heads, then n_head key heads), and RoPE (inverse: the backward's rotation).
template <class T>
void qk_norm_forward(T* qkv, float* rstd, i64 tokens, i64 C, int n_head, cudaStream_t stream);
template <class T>
void qk_norm_backward(T* dqkv, const T* qkv, const float* rstd, i64 tokens, i64 C, int n_head, cudaStream_t stream);
template <class T>
void rope(T* qkv, i64 B, i64 T_, i64 C, int n_head, i64 position0, double base, bool inverse, cudaStream_t stream);

// ---- cross_entropy.cu ----
// softcap > 0: the softmax of softcap · tanh(logits / softcap), capped in fp32 as the logits are
// read, and dlogits the gradient with respect to the raw logits.
template <class T>
void cross_entropy(float* losses, T* dlogits, const T* logits, const std::int32_t* targets, i64 N, i64 V,
                   i64 real_vocab, float dloss, float softcap, cudaStream_t stream);

}  // namespace gpt::cuda
