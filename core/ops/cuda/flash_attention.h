#pragma once
// Causal attention on tensor cores for bf16, FlashAttention-2 style: no T×T matrix, the forward
// keeps one log-sum-exp per query row, the backward recomputes the probabilities.
//
// The kernels are written once against a few SIMT primitives (the `Simt` parameter: thread and
// block index, shared memory, __syncthreads, a warp shuffle, mma.m16n8k16 and 4/16-byte memory
// moves), so the same code runs as CUDA kernels (device_simt.cuh, flash_attention.cu) and, on a
// machine without a GPU, on the host under tests/emulated/simt_emulator.h, which is how CI tests it.
// This header needs no CUDA headers.
//
// Tiling: a block of 4 warps owns 64 rows (queries in the forward and the dQ pass, keys in the
// dK/dV pass) of one (batch, head); each warp owns 16 of them and steps over the other side 64 at
// a time through shared memory. Products use mma.m16n8k16 (bf16 operands, fp32 accumulation),
// whose fragments are (PTX ISA, "Matrix Fragments for mma.m16n8k16"), with g = lane/4, q = lane%4:
//   A 16×16: reg0 (row g, cols 2q,2q+1)  reg1 (g+8, 2q..)  reg2 (g, 2q+8..)  reg3 (g+8, 2q+8..)
//   B 16×8:  reg0 (k 2q,2q+1; col g)     reg1 (k 2q+8, 2q+9; col g)
//   C 16×8:  c0,c1 (row g, cols 2q,2q+1)  c2,c3 (row g+8, same cols)
// The low half of a register holds the lower column (or k). Two neighbouring C tiles (columns
// 0-7 and 8-15) hold exactly the elements of one A fragment, so a product's result (scores)
// feeds the next product (with V, dO, Q or K) from registers, without a trip through memory.
// Shared-memory rows are padded to HD+8 elements: the fragment loads then hit 32 distinct banks.
//
// Every loop bound and every collective is uniform across the block, as __syncthreads and the
// .sync warp operations require; each output element is written by exactly one thread, so the
// results are deterministic without atomics.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#ifdef __CUDACC__
#define GPT_SIMT_FN __device__ __forceinline__
#define GPT_SIMT_HOST_DEVICE __host__ __device__
#else
#define GPT_SIMT_FN inline
#define GPT_SIMT_HOST_DEVICE
#endif

namespace gpt::flash {

using u16 = std::uint16_t;  // a bf16's bits
using u32 = std::uint32_t;
using i64 = std::int64_t;

constexpr int kTile = 64;  // rows a block owns, and the step over the other side
constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr float kLog2e = 1.4426950408889634f;

// Head sizes the kernels are built for; others use the CUDA-core kernels in attention.cu.
constexpr bool head_dim_supported(i64 hd) {
  return hd == 32 || hd == 64;
}

// Whether the kernels take this attention, apart from the device's compute capability: a head
// size they are built for, 16-byte aligned buffers (tiles move 16 bytes at a time) and a grid.y
// (batch × heads) within CUDA's limit.
inline bool shapes_supported(i64 B, i64 C, int NH, std::initializer_list<const void*> buffers) {
  if (C % NH != 0 || !head_dim_supported(C / NH) || B * NH > 65535) return false;
  for (const void* p : buffers)
    if (reinterpret_cast<std::uintptr_t>(p) % 16 != 0) return false;
  return true;
}

// Calls f(std::integral_constant<int, HD>{}) for the head size C / NH (32 or 64).
template <class F>
void with_head_dim(i64 hd, F&& f) {
  if (hd == 64) {
    f(std::integral_constant<int, 64>{});
  } else {
    f(std::integral_constant<int, 32>{});
  }
}

template <int HD>
constexpr int kRowStride = HD + 8;  // elements per shared-memory tile row
template <int HD>
constexpr std::size_t tile_bytes() {
  return std::size_t{kTile} * kRowStride<HD> * sizeof(u16);
}
// The side a block steps over is double-buffered: the next tile's copies are in flight while the
// current one is multiplied.
template <int HD>
constexpr std::size_t forward_smem_bytes() {  // Q, then K and V twice
  return 5 * tile_bytes<HD>();
}
template <int HD>
constexpr std::size_t dq_smem_bytes() {  // Q and dO, then K and V twice
  return 6 * tile_bytes<HD>();
}
template <int HD>
constexpr std::size_t dkv_smem_bytes() {  // K and V, then Q, dO and the rows' lse and delta twice
  return 6 * tile_bytes<HD>() + 4 * kTile * sizeof(float);
}

// qkv(B,T,3C) holds q, k, v side by side, head h at columns h·HD of each; out, dout (B,T,C);
// lse and delta are per query row, indexed (b·NH + h)·T + t.
struct Problem {
  i64 B, T, C;
  int NH;
  float scale;  // 1/sqrt(head size)
  GPT_SIMT_HOST_DEVICE i64 tiles() const { return (T + kTile - 1) / kTile; }
};
inline Problem make_problem(i64 B, i64 T, i64 C, int NH) {
  return Problem{B, T, C, NH, 1.0f / std::sqrt(static_cast<float>(C / NH))};
}

// Starts copying rows [first, first+64) of a (rows, src_stride) matrix's HD columns into a padded
// tile, 16 bytes at a time with cp.async; rows at or past T are zero-filled at once. The copies
// land when this thread waits for their group (cp_async_wait_one/all), and other threads see them
// after a sync() that follows the wait.
template <int HD, class Simt>
GPT_SIMT_FN void load_tile(Simt& s, u16* tile, const u16* src, i64 first, i64 T, i64 src_stride) {
  constexpr int chunks_per_row = HD / 8;
  for (int c = s.thread(); c < kTile * chunks_per_row; c += kThreads) {
    const int r = c / chunks_per_row, col = (c % chunks_per_row) * 8;
    u16* dst = tile + r * kRowStride<HD> + col;
    if (first + r < T) {
      s.cp_async16(dst, src + (first + r) * src_stride + col);
    } else {
      s.zero16(dst);
    }
  }
}

// A fragment of the 16×16 block at (row0, col0) of a tile.
template <int HD, class Simt>
GPT_SIMT_FN void load_a(Simt& s, u32 (&a)[4], const u16* tile, int row0, int col0, int g, int q) {
  constexpr int S = kRowStride<HD>;
  const u16* p = tile + (row0 + g) * S + col0 + 2 * q;
  a[0] = s.load_u32(p);
  a[1] = s.load_u32(p + 8 * S);
  a[2] = s.load_u32(p + 8);
  a[3] = s.load_u32(p + 8 * S + 8);
}

// A fragments of a warp's 16 rows (from row0) across all HD columns of a tile.
template <int HD, class Simt>
GPT_SIMT_FN void load_rows(Simt& s, u32 (&a)[HD / 16][4], const u16* tile, int row0, int g, int q) {
  for (int ks = 0; ks < HD / 16; ++ks) load_a<HD>(s, a[ks], tile, row0, ks * 16, g, q);
}

// B fragment with B[k][n] = tile[n0 + n][k0 + k]: the tile's rows are B's columns (K in Q·Kᵀ).
template <int HD, class Simt>
GPT_SIMT_FN void load_b_transposed(Simt& s, u32 (&b)[2], const u16* tile, int n0, int k0, int g, int q) {
  const u16* p = tile + (n0 + g) * kRowStride<HD> + k0 + 2 * q;
  b[0] = s.load_u32(p);
  b[1] = s.load_u32(p + 8);
}

// B fragment with B[k][n] = tile[k0 + k][n0 + n] (V in P·V): each pair spans two rows.
template <int HD>
GPT_SIMT_FN void load_b(u32 (&b)[2], const u16* tile, int k0, int n0, int g, int q) {
  constexpr int S = kRowStride<HD>;
  const u16* p = tile + (k0 + 2 * q) * S + n0 + g;
  b[0] = static_cast<u32>(p[0]) | static_cast<u32>(p[S]) << 16;
  b[1] = static_cast<u32>(p[8 * S]) | static_cast<u32>(p[9 * S]) << 16;
}

// The A fragment for keys (or queries) 16·kk..16·kk+15 from C tiles 2kk and 2kk+1, in bf16.
template <class Simt>
GPT_SIMT_FN void c_to_a(Simt& s, u32 (&a)[4], const float (&lo)[4], const float (&hi)[4]) {
  a[0] = s.pack_bf16(lo[0], lo[1]);
  a[1] = s.pack_bf16(lo[2], lo[3]);
  a[2] = s.pack_bf16(hi[0], hi[1]);
  a[3] = s.pack_bf16(hi[2], hi[3]);
}

// Sum (or max) over the four lanes of a quad, which together hold one row of a C tile.
template <class Simt>
GPT_SIMT_FN float quad_sum(Simt& s, float v) {
  v += s.shfl_xor(v, 1);
  return v + s.shfl_xor(v, 2);
}
template <class Simt>
GPT_SIMT_FN float quad_max(Simt& s, float v) {
  v = fmaxf(v, s.shfl_xor(v, 1));
  return fmaxf(v, s.shfl_xor(v, 2));
}

// Forward: block (x, y) computes query tile tiles-1-x (longest rows first, so the short ones fill
// the tail) of (batch, head) y. out(B,T,C) in bf16; lse in natural log.
template <int HD, class Simt>
GPT_SIMT_FN void forward_block(Simt& s, u16* out, float* lse, const u16* qkv, const Problem& p) {
  static_assert(HD % 16 == 0, "head size must be a multiple of 16");
  constexpr int S = kRowStride<HD>;
  const int warp = s.thread() / 32, lane = s.thread() % 32, g = lane / 4, q = lane % 4;
  const i64 qt = p.tiles() - 1 - s.block_x(), bh = s.block_y(), b = bh / p.NH, h = bh % p.NH;
  const i64 stride = 3 * p.C;
  const u16* q_src = qkv + b * p.T * stride + h * HD;
  // Shared memory: Q, then K and V of buffer 0, then of buffer 1.
  u16* sq = reinterpret_cast<u16*>(s.shared());
  auto sk = [&](i64 kt) { return sq + (1 + 2 * (kt & 1)) * kTile * S; };
  auto sv = [&](i64 kt) { return sq + (2 + 2 * (kt & 1)) * kTile * S; };

  load_tile<HD>(s, sq, q_src, qt * kTile, p.T, stride);
  s.cp_async_commit();
  load_tile<HD>(s, sk(0), q_src + p.C, 0, p.T, stride);
  load_tile<HD>(s, sv(0), q_src + 2 * p.C, 0, p.T, stride);
  s.cp_async_commit();
  s.cp_async_wait_one();  // Q has landed; the first K and V may still be on their way
  s.sync();
  const int r0 = warp * 16;
  u32 qf[HD / 16][4];
  load_rows<HD>(s, qf, sq, r0, g, q);
  const i64 row[2] = {qt * kTile + r0 + g, qt * kTile + r0 + g + 8};
  const float scale_log2 = p.scale * kLog2e;  // scores in base 2: exp2 is the cheap instruction

  float o[HD / 8][4] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0, 0};  // l: this lane's part of the row sum
  for (i64 kt = 0; kt <= qt; ++kt) {
    if (kt < qt) {  // the next tile, into the buffer the previous iteration finished with
      load_tile<HD>(s, sk(kt + 1), q_src + p.C, (kt + 1) * kTile, p.T, stride);
      load_tile<HD>(s, sv(kt + 1), q_src + 2 * p.C, (kt + 1) * kTile, p.T, stride);
    }
    s.cp_async_commit();    // possibly empty: every thread counts the same groups
    s.cp_async_wait_one();  // all but the group just started: tile kt has landed
    s.sync();
    float sc[kTile / 8][4] = {};
    for (int nt = 0; nt < kTile / 8; ++nt) {
      for (int ks = 0; ks < HD / 16; ++ks) {
        u32 bf[2];
        load_b_transposed<HD>(s, bf, sk(kt), nt * 8, ks * 16, g, q);
        s.mma(sc[nt], qf[ks], bf);
      }
    }
    // Only the diagonal tile has keys after a query or at or past T (it is the last tile then).
    const bool diagonal = kt == qt;
    float mx[2] = {-INFINITY, -INFINITY};
    for (int nt = 0; nt < kTile / 8; ++nt) {
      for (int i = 0; i < 4; ++i) {
        const i64 key = kt * kTile + nt * 8 + 2 * q + (i & 1);
        float v = sc[nt][i] * scale_log2;
        if (diagonal && (key > row[i >> 1] || key >= p.T)) v = -INFINITY;
        sc[nt][i] = v;
        mx[i >> 1] = fmaxf(mx[i >> 1], v);
      }
    }
    for (int r = 0; r < 2; ++r) {
      // Finite: key kt·64 is visible to every row of this tile (padding rows included).
      const float m_new = fmaxf(m[r], quad_max(s, mx[r]));
      const float correction = exp2f(m[r] - m_new);  // 0 on the first tile, where m = -inf
      m[r] = m_new;
      l[r] *= correction;
      for (int dt = 0; dt < HD / 8; ++dt) {
        o[dt][2 * r] *= correction;
        o[dt][2 * r + 1] *= correction;
      }
    }
    for (int nt = 0; nt < kTile / 8; ++nt) {
      for (int i = 0; i < 4; ++i) {
        const float e = exp2f(sc[nt][i] - m[i >> 1]);
        sc[nt][i] = e;
        l[i >> 1] += e;
      }
    }
    for (int kk = 0; kk < kTile / 16; ++kk) {
      u32 a[4];
      c_to_a(s, a, sc[2 * kk], sc[2 * kk + 1]);
      for (int dt = 0; dt < HD / 8; ++dt) {
        u32 bf[2];
        load_b<HD>(bf, sv(kt), kk * 16, dt * 8, g, q);
        s.mma(o[dt], a, bf);
      }
    }
    s.sync();  // every warp is done with buffer kt before the next iteration refills it
  }

  u16* o_dst = out + b * p.T * p.C + h * HD;
  for (int r = 0; r < 2; ++r) {
    const float sum = quad_sum(s, l[r]);
    if (row[r] >= p.T) continue;
    const float inv = 1.0f / sum;
    for (int dt = 0; dt < HD / 8; ++dt)
      s.store_u32(o_dst + row[r] * p.C + dt * 8 + 2 * q, s.pack_bf16(o[dt][2 * r] * inv, o[dt][2 * r + 1] * inv));
    if (q == 0) lse[bh * p.T + row[r]] = (m[r] + log2f(sum)) / kLog2e;
  }
}

// Backward, dQ: block (x, y) owns query tile tiles-1-x of (batch, head) y and steps over the key
// tiles up to the diagonal: dQ = scale · Σ_keys P ⊙ (dP − delta) · K, with P = exp(scale·QKᵀ − lse)
// and dP = dO·Vᵀ. delta[row] = Σ_d dO·O (computed beforehand).
template <int HD, class Simt>
GPT_SIMT_FN void dq_block(Simt& s, u16* dqkv, const u16* dout, const u16* qkv, const float* lse, const float* delta,
                          const Problem& p) {
  constexpr int S = kRowStride<HD>;
  const int warp = s.thread() / 32, lane = s.thread() % 32, g = lane / 4, q = lane % 4;
  const i64 qt = p.tiles() - 1 - s.block_x(), bh = s.block_y(), b = bh / p.NH, h = bh % p.NH;
  const i64 stride = 3 * p.C;
  const u16* q_src = qkv + b * p.T * stride + h * HD;
  // Shared memory: Q, dO, then K and V of buffer 0, then of buffer 1.
  u16* sq = reinterpret_cast<u16*>(s.shared());
  u16* sdo = sq + kTile * S;
  auto sk = [&](i64 kt) { return sq + (2 + 2 * (kt & 1)) * kTile * S; };
  auto sv = [&](i64 kt) { return sq + (3 + 2 * (kt & 1)) * kTile * S; };

  load_tile<HD>(s, sq, q_src, qt * kTile, p.T, stride);
  load_tile<HD>(s, sdo, dout + b * p.T * p.C + h * HD, qt * kTile, p.T, p.C);
  s.cp_async_commit();
  load_tile<HD>(s, sk(0), q_src + p.C, 0, p.T, stride);
  load_tile<HD>(s, sv(0), q_src + 2 * p.C, 0, p.T, stride);
  s.cp_async_commit();
  s.cp_async_wait_one();  // Q and dO have landed
  s.sync();
  const int r0 = warp * 16;
  u32 qf[HD / 16][4], df[HD / 16][4];
  load_rows<HD>(s, qf, sq, r0, g, q);
  load_rows<HD>(s, df, sdo, r0, g, q);
  const i64 row[2] = {qt * kTile + r0 + g, qt * kTile + r0 + g + 8};
  float lse2[2], row_delta[2];  // padding rows: zeros (their Q and dO rows are zero too)
  for (int r = 0; r < 2; ++r) {
    lse2[r] = row[r] < p.T ? lse[bh * p.T + row[r]] * kLog2e : 0.0f;
    row_delta[r] = row[r] < p.T ? delta[bh * p.T + row[r]] : 0.0f;
  }
  const float scale_log2 = p.scale * kLog2e;

  float dq[HD / 8][4] = {};
  for (i64 kt = 0; kt <= qt; ++kt) {
    if (kt < qt) {
      load_tile<HD>(s, sk(kt + 1), q_src + p.C, (kt + 1) * kTile, p.T, stride);
      load_tile<HD>(s, sv(kt + 1), q_src + 2 * p.C, (kt + 1) * kTile, p.T, stride);
    }
    s.cp_async_commit();
    s.cp_async_wait_one();
    s.sync();
    const bool diagonal = kt == qt;
    // 16 keys at a time: scores and dP for them, dS, then its product with those keys' K rows.
    // Nothing here needs a whole row at once (the lse is known), which keeps registers low.
    for (int kk = 0; kk < kTile / 16; ++kk) {
      float sc[2][4] = {}, dp[2][4] = {};
      for (int half = 0; half < 2; ++half) {
        for (int ks = 0; ks < HD / 16; ++ks) {
          u32 bf[2];
          load_b_transposed<HD>(s, bf, sk(kt), kk * 16 + half * 8, ks * 16, g, q);
          s.mma(sc[half], qf[ks], bf);
          load_b_transposed<HD>(s, bf, sv(kt), kk * 16 + half * 8, ks * 16, g, q);
          s.mma(dp[half], df[ks], bf);
        }
        for (int i = 0; i < 4; ++i) {
          const int r = i >> 1;
          const i64 key = kt * kTile + kk * 16 + half * 8 + 2 * q + (i & 1);
          float prob = exp2f(sc[half][i] * scale_log2 - lse2[r]);
          if (diagonal && (key > row[r] || key >= p.T)) prob = 0.0f;  // replaces, so an inf never leaks
          sc[half][i] = prob * (dp[half][i] - row_delta[r]);          // dS
        }
      }
      u32 a[4];
      c_to_a(s, a, sc[0], sc[1]);
      for (int dt = 0; dt < HD / 8; ++dt) {
        u32 bf[2];
        load_b<HD>(bf, sk(kt), kk * 16, dt * 8, g, q);
        s.mma(dq[dt], a, bf);
      }
    }
    s.sync();  // buffer kt is free for the next iteration's copies
  }

  u16* dq_dst = dqkv + b * p.T * stride + h * HD;
  for (int r = 0; r < 2; ++r) {
    if (row[r] >= p.T) continue;
    for (int dt = 0; dt < HD / 8; ++dt)
      s.store_u32(dq_dst + row[r] * stride + dt * 8 + 2 * q,
                  s.pack_bf16(dq[dt][2 * r] * p.scale, dq[dt][2 * r + 1] * p.scale));
  }
}

// Backward, dK and dV: block (x, y) owns key tile x of (batch, head) y (tile 0, which every query
// sees, starts first) and steps over the query tiles from the diagonal on. With keys as rows:
// Pᵀ = exp(scale·K·Qᵀ − lse), dV = Σ_queries Pᵀ·dO, dK = scale · Σ_queries Pᵀ ⊙ (V·dOᵀ − delta) · Q.
template <int HD, class Simt>
GPT_SIMT_FN void dkv_block(Simt& s, u16* dqkv, const u16* dout, const u16* qkv, const float* lse, const float* delta,
                           const Problem& p) {
  constexpr int S = kRowStride<HD>;
  const int warp = s.thread() / 32, lane = s.thread() % 32, g = lane / 4, q = lane % 4;
  const i64 kt = s.block_x(), bh = s.block_y(), b = bh / p.NH, h = bh % p.NH;
  const i64 stride = 3 * p.C;
  const u16* q_src = qkv + b * p.T * stride + h * HD;
  const u16* do_src = dout + b * p.T * p.C + h * HD;
  // Shared memory: K, V, then Q and dO of buffer 0, of buffer 1, then the query rows' lse (base 2)
  // and delta for buffers 0 and 1.
  u16* sk = reinterpret_cast<u16*>(s.shared());
  u16* sv = sk + kTile * S;
  auto sq = [&](i64 qt) { return sk + (2 + 2 * (qt & 1)) * kTile * S; };
  auto sdo = [&](i64 qt) { return sk + (3 + 2 * (qt & 1)) * kTile * S; };
  float* rows_base = reinterpret_cast<float*>(sk + 6 * kTile * S);
  auto s_lse2 = [&](i64 qt) { return rows_base + (qt & 1) * 2 * kTile; };
  auto s_delta = [&](i64 qt) { return rows_base + (qt & 1) * 2 * kTile + kTile; };
  // Starts the copies of query tile qt; lse and delta are small and stored at once.
  auto load_queries = [&](i64 qt) {
    load_tile<HD>(s, sq(qt), q_src, qt * kTile, p.T, stride);
    load_tile<HD>(s, sdo(qt), do_src, qt * kTile, p.T, p.C);
    for (int i = s.thread(); i < kTile; i += kThreads) {
      const i64 query = qt * kTile + i;
      s_lse2(qt)[i] = query < p.T ? lse[bh * p.T + query] * kLog2e : 0.0f;
      s_delta(qt)[i] = query < p.T ? delta[bh * p.T + query] : 0.0f;
    }
  };

  load_tile<HD>(s, sk, q_src + p.C, kt * kTile, p.T, stride);
  load_tile<HD>(s, sv, q_src + 2 * p.C, kt * kTile, p.T, stride);
  s.cp_async_commit();
  load_queries(kt);
  s.cp_async_commit();
  s.cp_async_wait_one();  // K and V have landed
  s.sync();
  const int r0 = warp * 16;
  u32 kf[HD / 16][4], vf[HD / 16][4];
  load_rows<HD>(s, kf, sk, r0, g, q);
  load_rows<HD>(s, vf, sv, r0, g, q);
  const i64 key[2] = {kt * kTile + r0 + g, kt * kTile + r0 + g + 8};
  const float scale_log2 = p.scale * kLog2e;

  float dk[HD / 8][4] = {}, dv[HD / 8][4] = {};
  for (i64 qt = kt; qt < p.tiles(); ++qt) {
    if (qt + 1 < p.tiles()) load_queries(qt + 1);
    s.cp_async_commit();
    s.cp_async_wait_one();
    s.sync();
    const u16* q_tile = sq(qt);
    const u16* do_tile = sdo(qt);
    const float* lse_tile = s_lse2(qt);
    const float* delta_tile = s_delta(qt);
    const bool diagonal = qt == kt;
    // 16 queries at a time: Pᵀ and dSᵀ for them, then their products with those queries' dO and Q.
    for (int kk = 0; kk < kTile / 16; ++kk) {
      float pt[2][4] = {}, dst[2][4] = {};  // Pᵀ; V·dOᵀ, then dSᵀ
      for (int half = 0; half < 2; ++half) {
        for (int ks = 0; ks < HD / 16; ++ks) {
          u32 bf[2];
          load_b_transposed<HD>(s, bf, q_tile, kk * 16 + half * 8, ks * 16, g, q);
          s.mma(pt[half], kf[ks], bf);
          load_b_transposed<HD>(s, bf, do_tile, kk * 16 + half * 8, ks * 16, g, q);
          s.mma(dst[half], vf[ks], bf);
        }
        for (int i = 0; i < 4; ++i) {
          const int col = kk * 16 + half * 8 + 2 * q + (i & 1);
          const i64 query = qt * kTile + col;
          float prob = exp2f(pt[half][i] * scale_log2 - lse_tile[col]);
          if ((diagonal && query < key[i >> 1]) || query >= p.T) prob = 0.0f;
          pt[half][i] = prob;
          dst[half][i] = prob * (dst[half][i] - delta_tile[col]);
        }
      }
      u32 ap[4], ads[4];
      c_to_a(s, ap, pt[0], pt[1]);
      c_to_a(s, ads, dst[0], dst[1]);
      for (int dt = 0; dt < HD / 8; ++dt) {
        u32 bf[2];
        load_b<HD>(bf, do_tile, kk * 16, dt * 8, g, q);
        s.mma(dv[dt], ap, bf);
        load_b<HD>(bf, q_tile, kk * 16, dt * 8, g, q);
        s.mma(dk[dt], ads, bf);
      }
    }
    s.sync();  // buffer qt is free for the next iteration's copies
  }

  u16* dk_dst = dqkv + b * p.T * stride + p.C + h * HD;
  for (int r = 0; r < 2; ++r) {
    if (key[r] >= p.T) continue;
    for (int dt = 0; dt < HD / 8; ++dt) {
      u16* at = dk_dst + key[r] * stride + dt * 8 + 2 * q;
      s.store_u32(at, s.pack_bf16(dk[dt][2 * r] * p.scale, dk[dt][2 * r + 1] * p.scale));
      s.store_u32(at + p.C, s.pack_bf16(dv[dt][2 * r], dv[dt][2 * r + 1]));
    }
  }
}

}  // namespace gpt::flash
