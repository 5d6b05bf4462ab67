#include "core/ops/cpu/attention_gemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/half_float.h"
#include "core/ops/cpu/fast_math.h"
#include "core/ops/cpu/parallel.h"

namespace gpt::cpu {
namespace {

std::size_t elem_size(Elem e) {
  return e == Elem::bf16 ? 2 : 4;
}

// The (B, NH) grid of dense rows×cols matrices of a (B, NH, rows, cols) tensor, or of their
// transposes: head-major q, k, v (T×hd) and the scores (T×T). oneDNN runs its fast (brgemm,
// AMX) kernels on these; on heads viewed in place inside (B, T, 3C), whose head stride is less
// than their row stride, it falls back to a gemm 3-5x slower, hence the head-major copies.
MatrixView grid_view(const void* data, Elem type, std::int64_t NH, std::int64_t rows, std::int64_t cols,
                     bool transposed = false) {
  MatrixView v;
  v.data = const_cast<void*>(data);
  v.type = type;
  v.batch_stride[0] = NH * rows * cols;
  v.batch_stride[1] = rows * cols;
  v.row_stride = transposed ? 1 : cols;
  v.col_stride = transposed ? cols : 1;
  return v;
}

// Copies between a (B, T, width) activation's heads at column `base` and a head-major block:
// into the block (gather) or out of it.
enum class Copy { gather, scatter };
void copy_heads(int threads, Copy direction, std::size_t elem, void* heads, const void* activation, std::int64_t width,
                std::int64_t base, std::int64_t B, std::int64_t T, std::int64_t NH, std::int64_t hd) {
  // A gather only reads the activation; a scatter is given a writable one.
  char *h_bytes = static_cast<char*>(heads), *a_bytes = static_cast<char*>(const_cast<void*>(activation));
  const std::size_t row = static_cast<std::size_t>(hd) * elem;
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads) if (worth_parallel(B * T * NH * hd))
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t h = 0; h < NH; ++h) {
        char* in_heads = h_bytes + static_cast<std::size_t>(((b * NH + h) * T + t) * hd) * elem;
        char* in_activation = a_bytes + static_cast<std::size_t>((b * T + t) * width + base + h * hd) * elem;
        if (direction == Copy::gather)
          std::memcpy(in_heads, in_activation, row);
        else
          std::memcpy(in_activation, in_heads, row);
      }
}

// `count` head-major blocks of n elements each, in scratch.heads.
char* head_blocks(AttentionScratch& scratch, int count, std::int64_t n, std::size_t elem) {
  const std::size_t floats = (static_cast<std::size_t>(count * n) * elem + sizeof(float) - 1) / sizeof(float);
  if (scratch.heads.size() < floats) scratch.heads.resize(floats);
  return reinterpret_cast<char*>(scratch.heads.data());
}

// The matrices the products read as P or dS: the fp32 ones, or their bf16 rounding when the
// products are in bf16.
const void* product_operand(int threads, Elem type, const float* values, std::int64_t n, AttentionScratch& scratch) {
  if (type == Elem::f32) return values;
  if (scratch.rounded.size() < static_cast<std::size_t>(n)) scratch.rounded.resize(static_cast<std::size_t>(n));
  std::uint16_t* r = scratch.rounded.data();
#pragma omp parallel for simd schedule(static) num_threads(threads) if (worth_parallel(n))
  for (std::int64_t i = 0; i < n; ++i) r[i] = float_to_bf16_bits(values[i]);
  return r;
}

}  // namespace

void attention_forward_gemm(int threads, Elem type, void* out, float* probs, const void* qkv, std::int64_t B,
                            std::int64_t T, std::int64_t C, std::int64_t NH, AttentionScratch& scratch) {
  const std::int64_t hd = C / NH, rows = B * NH * T, n = B * T * C;
  const std::size_t elem = elem_size(type), block = static_cast<std::size_t>(n) * elem;
  char* q = head_blocks(scratch, 3, n, elem);  // Q, K, V; the output goes over Q
  char *k = q + block, *v = k + block;
  for (int part = 0; part < 3; ++part)
    copy_heads(threads, Copy::gather, elem, q + part * block, qkv, 3 * C, part * C, B, T, NH, hd);

  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  strided_matmul(threads, {.batch0 = B, .batch1 = NH, .M = T, .N = T, .K = hd}, scale, grid_view(q, type, NH, T, hd),
                 grid_view(k, type, NH, T, hd, true), 0.0f, grid_view(probs, Elem::f32, NH, T, T));

  // Row t of each matrix keeps columns s <= t. In bf16 the row is rounded for P·V while in cache.
  std::uint16_t* rounded = nullptr;
  if (type == Elem::bf16) {
    if (scratch.rounded.size() < static_cast<std::size_t>(rows * T))
      scratch.rounded.resize(static_cast<std::size_t>(rows * T));
    rounded = scratch.rounded.data();
  }
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(rows * T))
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t t = r % T;
    float* p = probs + r * T;
    float maxv = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : maxv)
    for (std::int64_t s = 0; s <= t; ++s) maxv = p[s] > maxv ? p[s] : maxv;
    const double sum = blocked_sum(t + 1, [p, maxv](std::int64_t s) { return p[s] = exp_fast(p[s] - maxv); });
    const float inv = static_cast<float>(1.0 / sum);
#pragma omp simd
    for (std::int64_t s = 0; s <= t; ++s) p[s] *= inv;
    std::fill(p + t + 1, p + T, 0.0f);
    if (rounded) {
      std::uint16_t* pr = rounded + r * T;
#pragma omp simd
      for (std::int64_t s = 0; s < T; ++s) pr[s] = float_to_bf16_bits(p[s]);
    }
  }

  const void* P = rounded ? static_cast<const void*>(rounded) : probs;
  strided_matmul(threads, {.batch0 = B, .batch1 = NH, .M = T, .N = hd, .K = T}, 1.0f, grid_view(P, type, NH, T, T),
                 grid_view(v, type, NH, T, hd), 0.0f, grid_view(q, type, NH, T, hd));
  copy_heads(threads, Copy::scatter, elem, q, out, C, 0, B, T, NH, hd);
}

void attention_backward_gemm(int threads, Elem type, void* dqkv, const void* dout, const void* qkv, const float* probs,
                             std::int64_t B, std::int64_t T, std::int64_t C, std::int64_t NH,
                             AttentionScratch& scratch) {
  const std::int64_t hd = C / NH, rows = B * NH * T, n = B * T * C;
  const std::size_t elem = elem_size(type), block = static_cast<std::size_t>(n) * elem;
  // Q, K, V, dO and dQ; dV goes over V and dK over K once they are no longer read.
  char* q = head_blocks(scratch, 5, n, elem);
  char *k = q + block, *v = k + block, *dO = v + block, *dQ = dO + block;
  for (int part = 0; part < 3; ++part)
    copy_heads(threads, Copy::gather, elem, q + part * block, qkv, 3 * C, part * C, B, T, NH, hd);
  copy_heads(threads, Copy::gather, elem, dO, dout, C, 0, B, T, NH, hd);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const ProductShape by_head{.batch0 = B, .batch1 = NH, .M = T, .N = hd, .K = T};

  // dP = dO·Vᵀ, then dV = Pᵀ·dO.
  if (scratch.scores.size() < static_cast<std::size_t>(rows * T))
    scratch.scores.resize(static_cast<std::size_t>(rows * T));
  float* dS = scratch.scores.data();
  strided_matmul(threads, {.batch0 = B, .batch1 = NH, .M = T, .N = T, .K = hd}, 1.0f, grid_view(dO, type, NH, T, hd),
                 grid_view(v, type, NH, T, hd, true), 0.0f, grid_view(dS, Elem::f32, NH, T, T));
  const void* P = product_operand(threads, type, probs, rows * T, scratch);
  strided_matmul(threads, by_head, 1.0f, grid_view(P, type, NH, T, T, true), grid_view(dO, type, NH, T, hd), 0.0f,
                 grid_view(v, type, NH, T, hd));

  // dS = P ⊙ (dP − Σ_s P·dP) · scale in place, row by row.
#pragma omp parallel for schedule(static) num_threads(threads) if (worth_parallel(rows * T))
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t t = r % T;
    const float* p = probs + r * T;
    float* d = dS + r * T;
    const float w = static_cast<float>(blocked_sum(t + 1, [p, d](std::int64_t s) { return p[s] * d[s]; }));
#pragma omp simd
    for (std::int64_t s = 0; s <= t; ++s) d[s] = p[s] * (d[s] - w) * scale;
    std::fill(d + t + 1, d + T, 0.0f);
    if (type == Elem::bf16) {  // P's rounding has been read (dV): dS's goes over it
      std::uint16_t* dr = scratch.rounded.data() + r * T;
#pragma omp simd
      for (std::int64_t s = 0; s < T; ++s) dr[s] = float_to_bf16_bits(d[s]);
    }
  }

  // dQ = dS·K, then dK = dSᵀ·Q over K.
  const void* dS_operand = type == Elem::bf16 ? static_cast<const void*>(scratch.rounded.data()) : dS;
  strided_matmul(threads, by_head, 1.0f, grid_view(dS_operand, type, NH, T, T), grid_view(k, type, NH, T, hd), 0.0f,
                 grid_view(dQ, type, NH, T, hd));
  strided_matmul(threads, by_head, 1.0f, grid_view(dS_operand, type, NH, T, T, true), grid_view(q, type, NH, T, hd),
                 0.0f, grid_view(k, type, NH, T, hd));
  copy_heads(threads, Copy::scatter, elem, dQ, dqkv, 3 * C, 0, B, T, NH, hd);
  copy_heads(threads, Copy::scatter, elem, k, dqkv, 3 * C, C, B, T, NH, hd);
  copy_heads(threads, Copy::scatter, elem, v, dqkv, 3 * C, 2 * C, B, T, NH, hd);
}

}  // namespace gpt::cpu
