#pragma once
// Every check of Backend's op functions (core/ops/backend.h) as calls it must refuse: each starts
// from an op case's valid tensors (tests/support/op_cases.h) and gets one argument wrong. The CPU
// unit tests and the CUDA tests (on a GPU and emulated) run the same list, so every backend
// provably refuses what every other does, with the same message. A wrong tensor never claims
// more elements than its buffer holds, so a call accepted by mistake stays inside it.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/op_harness.h"

namespace gpt::test {

struct Refusal {
  std::string what;  // the message after "<family> backend: "
  std::function<void(Backend&, OpArgs&)> call;
};

struct OpRefusals {
  std::string op_case;  // the op case (at OpDims{}) whose tensors the calls start from
  std::vector<Refusal> refusals;
};

inline void PrintTo(const OpRefusals& r, std::ostream* os) {
  *os << r.op_case;
}

// t with dimension i (negative: from the end) set to n, no more than it was.
inline Tensor with_dim(Tensor t, int i, std::int64_t n) {
  std::int64_t& d = t.shape.at(static_cast<std::size_t>(i < 0 ? t.ndim + i : i));
  if (n > d) throw std::logic_error("with_dim would grow the tensor");
  d = n;
  return t;
}
inline Tensor shorter(const Tensor& t) {
  return with_dim(t, -1, t.dim(-1) - 1);
}
inline Tensor flat(const Tensor& t) {
  return Tensor(t.ptr, t.dtype, {t.numel()});
}
// The same memory claimed to hold `type`: a backend reading it would throw on the type first.
inline Tensor retyped(Tensor t, DType type) {
  t.dtype = type;
  return t;
}

// At the op cases' default sizes (OpDims{}).
inline std::vector<OpRefusals> all_op_refusals() {
  const auto [B, T, C, NH64, V, RV, H] = OpDims{};
  const int NH = static_cast<int>(NH64);
  constexpr DType i32 = DType::i32;
  std::vector<OpRefusals> all;

  // embedding: in wte(V,C), wpe(T+2,C); out (B,T,C); ints tokens (B,T); din dwte, dwpe.
  all.push_back(
      {"embedding",
       {{"embedding_forward shapes",
         [](Backend& be, OpArgs& a) { be.embedding_forward(a.out[0], flat(a.ints), a.in[0], a.in[1]); }},
        {"embedding_forward shapes",
         [](Backend& be, OpArgs& a) { be.embedding_forward(shorter(a.out[0]), a.ints, a.in[0], a.in[1]); }},
        {"embedding_forward: sequence longer than wpe",
         [T](Backend& be, OpArgs& a) { be.embedding_forward(a.out[0], a.ints, a.in[0], with_dim(a.in[1], 0, T - 1)); }},
        {"embedding_forward dtypes",
         [](Backend& be, OpArgs& a) { be.embedding_forward(a.out[0], retyped(a.ints, DType::f32), a.in[0], a.in[1]); }},
        {"embedding_forward dtypes",
         [](Backend& be, OpArgs& a) { be.embedding_forward(a.out[0], a.ints, retyped(a.in[0], i32), a.in[1]); }},
        {"embedding_backward shapes",
         [](Backend& be, OpArgs& a) { be.embedding_backward(a.din[0], a.din[1], a.dout[0], flat(a.ints)); }},
        {"embedding_backward shapes",
         [](Backend& be, OpArgs& a) { be.embedding_backward(a.din[0], a.din[1], shorter(a.dout[0]), a.ints); }},
        {"embedding_backward dtypes",
         [](Backend& be, OpArgs& a) { be.embedding_backward(a.din[0], retyped(a.din[1], i32), a.dout[0], a.ints); }},
        // Ops without a case of their own, on this case's parameter-typed gradients dwte(V,C), dwpe(T+2,C).
        {"convert shapes", [](Backend& be, OpArgs& a) { be.convert(a.din[0], a.din[1]); }},
        {"adamw shapes", [](Backend& be, OpArgs& a) { be.adamw(a.din[0], a.din[1], a.din[0], a.din[0], {}); }},
        {"adamw shapes", [](Backend& be, OpArgs& a) { be.adamw(a.din[0], a.din[0], a.din[0], shorter(a.din[0]), {}); }},
        {"adamw dtypes",
         [](Backend& be, OpArgs& a) { be.adamw(a.din[0], a.din[0], retyped(a.din[0], i32), a.din[0], {}); }}}});

  // layernorm: in x(B,T,C), weight(C), bias(C); out (B,T,C); aux mean, rstd (B*T).
  all.push_back({"layernorm",
                 {{"layernorm_forward shapes",
                   [](Backend& be, OpArgs& a) {
                     be.layernorm_forward(a.out[0], a.aux[0], a.aux[1], a.in[0], shorter(a.in[1]), a.in[2]);
                   }},
                  {"layernorm_forward shapes",
                   [](Backend& be, OpArgs& a) {
                     be.layernorm_forward(a.out[0], shorter(a.aux[0]), a.aux[1], a.in[0], a.in[1], a.in[2]);
                   }},
                  {"layernorm_forward shapes",
                   [](Backend& be, OpArgs& a) {
                     be.layernorm_forward(a.out[0], a.aux[0], shorter(a.aux[1]), a.in[0], a.in[1], a.in[2]);
                   }},
                  {"layernorm_forward shapes",
                   [](Backend& be, OpArgs& a) {
                     be.layernorm_forward(shorter(a.out[0]), a.aux[0], a.aux[1], a.in[0], a.in[1], a.in[2]);
                   }},
                  {"layernorm_forward dtypes",
                   [](Backend& be, OpArgs& a) {
                     be.layernorm_forward(a.out[0], retyped(a.aux[0], i32), a.aux[1], a.in[0], a.in[1], a.in[2]);
                   }},
                  {"layernorm_forward dtypes",
                   [](Backend& be, OpArgs& a) {
                     be.layernorm_forward(a.out[0], a.aux[0], a.aux[1], a.in[0], a.in[1], retyped(a.in[2], i32));
                   }},
                  {"layernorm_backward shapes",
                   [](Backend& be, OpArgs& a) {
                     be.layernorm_backward(shorter(a.din[0]), a.din[1], a.din[2], a.dout[0], a.in[0], a.in[1], a.aux[0],
                                           a.aux[1]);
                   }},
                  {"layernorm_backward shapes",  // was checked by the CPU backend only
                   [](Backend& be, OpArgs& a) {
                     be.layernorm_backward(a.din[0], a.din[1], a.din[2], shorter(a.dout[0]), a.in[0], a.in[1], a.aux[0],
                                           a.aux[1]);
                   }},
                  {"layernorm_backward shapes",
                   [](Backend& be, OpArgs& a) {
                     be.layernorm_backward(a.din[0], shorter(a.din[1]), a.din[2], a.dout[0], a.in[0], a.in[1], a.aux[0],
                                           a.aux[1]);
                   }},
                  {"layernorm_backward dtypes", [](Backend& be, OpArgs& a) {
                     be.layernorm_backward(a.din[0], retyped(a.din[1], i32), a.din[2], a.dout[0], a.in[0], a.in[1],
                                           a.aux[0], a.aux[1]);
                   }}}});

  // residual_layernorm: in a, b (B,T,C), weight, bias (C); out residual, out (B,T,C); aux mean, rstd.
  // (The CPU backend composed add and layernorm_forward and refused with their messages.)
  all.push_back({"residual_layernorm",
                 {{"residual_layernorm_forward shapes",
                   [](Backend& be, OpArgs& a) {
                     be.residual_layernorm_forward(a.out[0], a.out[1], a.aux[0], a.aux[1], a.in[0], shorter(a.in[1]),
                                                   a.in[2], a.in[3]);
                   }},
                  {"residual_layernorm_forward shapes",
                   [](Backend& be, OpArgs& a) {
                     be.residual_layernorm_forward(shorter(a.out[0]), a.out[1], a.aux[0], a.aux[1], a.in[0], a.in[1],
                                                   a.in[2], a.in[3]);
                   }},
                  {"residual_layernorm_forward shapes",
                   [](Backend& be, OpArgs& a) {
                     be.residual_layernorm_forward(a.out[0], a.out[1], a.aux[0], shorter(a.aux[1]), a.in[0], a.in[1],
                                                   a.in[2], a.in[3]);
                   }},
                  {"residual_layernorm_forward dtypes", [](Backend& be, OpArgs& a) {
                     be.residual_layernorm_forward(a.out[0], a.out[1], retyped(a.aux[0], i32), a.aux[1], a.in[0],
                                                   a.in[1], a.in[2], a.in[3]);
                   }}}});

  // matmul: in x(B,T,C), weight(H,C), bias(H); out (B,T,H); din dx, dweight, dbias.
  all.push_back(
      {"matmul",
       {{"matmul_forward shapes",
         [C](Backend& be, OpArgs& a) { be.matmul_forward(a.out[0], a.in[0], with_dim(a.in[1], 1, C - 1), a.in[2]); }},
        {"matmul_forward shapes",
         [](Backend& be, OpArgs& a) { be.matmul_forward(shorter(a.out[0]), a.in[0], a.in[1], a.in[2]); }},
        {"matmul_forward shapes",
         [](Backend& be, OpArgs& a) { be.matmul_forward(a.out[0], a.in[0], a.in[1], shorter(a.in[2])); }},
        {"matmul_forward dtypes",
         [](Backend& be, OpArgs& a) { be.matmul_forward(a.out[0], a.in[0], retyped(a.in[1], i32), a.in[2]); }},
        {"matmul_backward shapes",
         [](Backend& be, OpArgs& a) {
           be.matmul_backward(a.din[0], a.din[1], a.din[2], shorter(a.dout[0]), a.in[0], a.in[1]);
         }},
        {"matmul_backward shapes",
         [](Backend& be, OpArgs& a) {
           be.matmul_backward(a.din[0], shorter(a.din[1]), a.din[2], a.dout[0], a.in[0], a.in[1]);
         }},
        {"matmul_backward shapes",
         [](Backend& be, OpArgs& a) {
           be.matmul_backward(shorter(a.din[0]), a.din[1], a.din[2], a.dout[0], a.in[0], a.in[1]);
         }},
        {"matmul_backward dtypes", [](Backend& be, OpArgs& a) {
           be.matmul_backward(a.din[0], a.din[1], retyped(a.din[2], i32), a.dout[0], a.in[0], a.in[1]);
         }}}});

  // attention: in qkv(B,T,3C); out (B,T,C); aux saved (B*NH*T*T).
  all.push_back(
      {"attention",
       {{"attention_forward shapes",
         [NH](Backend& be, OpArgs& a) { be.attention_forward(a.out[0], a.aux[0], flat(a.in[0]), NH); }},
        {"attention_forward shapes",
         [NH](Backend& be, OpArgs& a) { be.attention_forward(shorter(a.out[0]), a.aux[0], a.in[0], NH); }},
        {"attention_forward shapes",
         [B, T, NH](Backend& be, OpArgs& a) {
           be.attention_forward(a.out[0], with_dim(a.aux[0], 0, be.attention_saved_numel(B, T, NH) - 1), a.in[0], NH);
         }},
        {"attention_forward shapes",
         [C](Backend& be, OpArgs& a) {
           be.attention_forward(a.out[0], a.aux[0], a.in[0], static_cast<int>(C) + 1);  // does not divide C
         }},
        {"attention_forward shapes",
         [](Backend& be, OpArgs& a) { be.attention_forward(a.out[0], a.aux[0], a.in[0], 0); }},
        {"attention_forward dtypes",
         [NH](Backend& be, OpArgs& a) { be.attention_forward(a.out[0], retyped(a.aux[0], i32), a.in[0], NH); }},
        {"attention_backward shapes",
         [NH](Backend& be, OpArgs& a) {
           be.attention_backward(shorter(a.din[0]), a.dout[0], a.in[0], a.out[0], a.aux[0], NH);
         }},
        {"attention_backward shapes",
         [NH](Backend& be, OpArgs& a) {
           be.attention_backward(a.din[0], shorter(a.dout[0]), a.in[0], a.out[0], a.aux[0], NH);
         }},
        {"attention_backward shapes",  // was checked by the CUDA backend only: heads of C-1 that NH does not divide
         [C, NH](Backend& be, OpArgs& a) {
           be.attention_backward(with_dim(a.din[0], -1, 3 * (C - 1)), shorter(a.dout[0]),
                                 with_dim(a.in[0], -1, 3 * (C - 1)), shorter(a.out[0]), a.aux[0], NH);
         }},
        {"attention_backward shapes",
         [](Backend& be, OpArgs& a) { be.attention_backward(a.din[0], a.dout[0], a.in[0], a.out[0], a.aux[0], 0); }},
        {"attention_backward dtypes", [NH](Backend& be, OpArgs& a) {
           be.attention_backward(a.din[0], a.dout[0], a.in[0], retyped(a.out[0], i32), a.aux[0], NH);
         }}}});

  // gelu: in x(B,T,H); out (B,T,H).
  all.push_back(
      {"gelu",
       {{"gelu_forward shapes", [](Backend& be, OpArgs& a) { be.gelu_forward(shorter(a.out[0]), a.in[0]); }},
        {"gelu_forward dtypes", [](Backend& be, OpArgs& a) { be.gelu_forward(retyped(a.out[0], i32), a.in[0]); }},
        {"gelu_backward shapes",
         [](Backend& be, OpArgs& a) { be.gelu_backward(shorter(a.din[0]), a.dout[0], a.in[0]); }},
        {"gelu_backward shapes",
         [](Backend& be, OpArgs& a) { be.gelu_backward(a.din[0], shorter(a.dout[0]), a.in[0]); }},
        {"gelu_backward dtypes",
         [](Backend& be, OpArgs& a) { be.gelu_backward(a.din[0], retyped(a.dout[0], i32), a.in[0]); }}}});

  // swiglu: in x(B,T,2H); out (B,T,H).
  all.push_back(
      {"swiglu",
       {{"swiglu_forward shapes", [](Backend& be, OpArgs& a) { be.swiglu_forward(a.out[0], shorter(a.in[0])); }},
        {"swiglu_forward shapes", [](Backend& be, OpArgs& a) { be.swiglu_forward(shorter(a.out[0]), a.in[0]); }},
        {"swiglu_forward dtypes", [](Backend& be, OpArgs& a) { be.swiglu_forward(a.out[0], retyped(a.in[0], i32)); }},
        {"swiglu_backward shapes",
         [](Backend& be, OpArgs& a) { be.swiglu_backward(shorter(a.din[0]), a.dout[0], a.in[0]); }},
        {"swiglu_backward shapes",
         [](Backend& be, OpArgs& a) { be.swiglu_backward(a.din[0], shorter(a.dout[0]), a.in[0]); }},
        {"swiglu_backward dtypes",
         [](Backend& be, OpArgs& a) { be.swiglu_backward(retyped(a.din[0], i32), a.dout[0], a.in[0]); }}}});

  // add: in a, b (B,T,C); out (B,T,C).
  all.push_back({"add",
                 {{"add shapes", [](Backend& be, OpArgs& a) { be.add(shorter(a.out[0]), a.in[0], a.in[1]); }},
                  {"add shapes", [](Backend& be, OpArgs& a) { be.add(a.out[0], a.in[0], shorter(a.in[1])); }},
                  {"add dtypes", [](Backend& be, OpArgs& a) { be.add(a.out[0], retyped(a.in[0], i32), a.in[1]); }}}});

  // dropout: in x(B,T,C); out (B,T,C). (The CUDA backend refused a backward with the forward's message.)
  all.push_back(
      {"dropout",
       {{"dropout_forward arguments",
         [](Backend& be, OpArgs& a) { be.dropout_forward(shorter(a.out[0]), a.in[0], 0.3, 42); }},
        {"dropout_forward arguments", [](Backend& be, OpArgs& a) { be.dropout_forward(a.out[0], a.in[0], 1.0, 42); }},
        {"dropout_forward arguments", [](Backend& be, OpArgs& a) { be.dropout_forward(a.out[0], a.in[0], -0.1, 42); }},
        {"dropout_forward dtypes",
         [](Backend& be, OpArgs& a) { be.dropout_forward(retyped(a.out[0], i32), a.in[0], 0.3, 42); }},
        {"dropout_backward arguments",
         [](Backend& be, OpArgs& a) { be.dropout_backward(shorter(a.din[0]), a.dout[0], 0.3, 42); }},
        {"dropout_backward arguments",
         [](Backend& be, OpArgs& a) { be.dropout_backward(a.din[0], a.dout[0], 1.0, 42); }},
        {"dropout_backward dtypes",
         [](Backend& be, OpArgs& a) { be.dropout_backward(a.din[0], retyped(a.dout[0], i32), 0.3, 42); }}}});

  // cross_entropy: in logits(N,V); out losses (N); ints targets (N); din dlogits.
  all.push_back(
      {"cross_entropy",
       {{"cross_entropy shapes",
         [RV](Backend& be, OpArgs& a) { be.cross_entropy(shorter(a.out[0]), a.din[0], a.in[0], a.ints, RV, 1.0); }},
        {"cross_entropy shapes",
         [RV](Backend& be, OpArgs& a) { be.cross_entropy(a.out[0], a.din[0], a.in[0], shorter(a.ints), RV, 1.0); }},
        {"cross_entropy shapes",
         [RV](Backend& be, OpArgs& a) { be.cross_entropy(a.out[0], shorter(a.din[0]), a.in[0], a.ints, RV, 1.0); }},
        {"cross_entropy shapes",
         [](Backend& be, OpArgs& a) { be.cross_entropy(a.out[0], a.din[0], a.in[0], a.ints, 0, 1.0); }},
        {"cross_entropy shapes",
         [V](Backend& be, OpArgs& a) { be.cross_entropy(a.out[0], a.din[0], a.in[0], a.ints, V + 1, 1.0); }},
        {"cross_entropy dtypes",
         [RV](Backend& be, OpArgs& a) {
           be.cross_entropy(a.out[0], a.din[0], a.in[0], retyped(a.ints, DType::f32), RV, 1.0);
         }},
        {"cross_entropy dtypes", [RV](Backend& be, OpArgs& a) {
           be.cross_entropy(retyped(a.out[0], i32), a.din[0], a.in[0], a.ints, RV, 1.0);
         }}}});
  // Inference ops (op cases at OpDims{}: position 3, cache length S = T + 5).
  const std::int64_t S = T + 5;
  all.push_back({"embedding_at_position",
                 {{"embedding_forward: sequence longer than wpe",
                   [](Backend& be, OpArgs& a) { be.embedding_forward(a.out[0], a.ints, a.in[0], a.in[1], 5); }},
                  {"embedding_forward: sequence longer than wpe",
                   [](Backend& be, OpArgs& a) { be.embedding_forward(a.out[0], a.ints, a.in[0], a.in[1], -1); }}}});
  // kv_cache_write: in qkv(B,T,3C); out k_cache, v_cache (B,S,C).
  all.push_back(
      {"kv_cache_write",
       {{"kv_cache_write shapes",
         [S, T](Backend& be, OpArgs& a) { be.kv_cache_write(a.out[0], a.out[1], a.in[0], S - T + 1); }},
        {"kv_cache_write shapes", [](Backend& be, OpArgs& a) { be.kv_cache_write(a.out[0], a.out[1], a.in[0], -1); }},
        {"kv_cache_write shapes",
         [S](Backend& be, OpArgs& a) { be.kv_cache_write(a.out[0], with_dim(a.out[1], 1, S - 1), a.in[0], 0); }},
        {"kv_cache_write shapes",
         [](Backend& be, OpArgs& a) { be.kv_cache_write(a.out[0], a.out[1], shorter(a.in[0]), 0); }},
        {"kv_cache_write dtypes",
         [](Backend& be, OpArgs& a) { be.kv_cache_write(retyped(a.out[0], i32), a.out[1], a.in[0], 0); }}}});
  // cached_attention: in qkv(B,T,3C), k_cache, v_cache (B,S,C); out (B,T,C).
  all.push_back(
      {"cached_attention",
       {{"cached_attention_forward shapes",
         [S, T, NH](Backend& be, OpArgs& a) {
           be.cached_attention_forward(a.out[0], a.in[0], a.in[1], a.in[2], S - T + 1, NH);
         }},
        {"cached_attention_forward shapes",
         [NH](Backend& be, OpArgs& a) {
           be.cached_attention_forward(shorter(a.out[0]), a.in[0], a.in[1], a.in[2], 0, NH);
         }},
        {"cached_attention_forward shapes",
         [S, NH](Backend& be, OpArgs& a) {
           be.cached_attention_forward(a.out[0], a.in[0], a.in[1], with_dim(a.in[2], 1, S - 1), 0, NH);
         }},
        {"cached_attention_forward shapes",
         [](Backend& be, OpArgs& a) { be.cached_attention_forward(a.out[0], a.in[0], a.in[1], a.in[2], 0, 0); }},
        {"cached_attention_forward shapes",
         [C](Backend& be, OpArgs& a) {
           be.cached_attention_forward(a.out[0], a.in[0], a.in[1], a.in[2], 0, static_cast<int>(C) + 1);
         }},
        {"cached_attention_forward dtypes", [NH](Backend& be, OpArgs& a) {
           be.cached_attention_forward(a.out[0], a.in[0], retyped(a.in[1], i32), a.in[2], 0, NH);
         }}}});
  // gather_rows: in src (3,S,C); out dst (4,S,C).
  all.push_back({"gather_rows",
                 {{"gather_rows shapes",
                   [](Backend& be, OpArgs& a) {
                     const std::int32_t rows[] = {0, 1, 2};
                     be.gather_rows(a.out[0], a.in[0], rows, 1);
                   }},
                  {"gather_rows shapes",
                   [S](Backend& be, OpArgs& a) {
                     const std::int32_t rows[] = {0, 1, 2, 0};
                     be.gather_rows(a.out[0], a.in[0], rows, S + 1);
                   }},
                  {"gather_rows: row index out of range",
                   [](Backend& be, OpArgs& a) {
                     const std::int32_t rows[] = {0, 1, 2, 3};
                     be.gather_rows(a.out[0], a.in[0], rows, 1);
                   }},
                  {"gather_rows: row index out of range",
                   [](Backend& be, OpArgs& a) {
                     const std::int32_t rows[] = {0, -1, 2, 0};
                     be.gather_rows(a.out[0], a.in[0], rows, 1);
                   }},
                  {"gather_rows dtypes", [](Backend& be, OpArgs& a) {
                     const std::int32_t rows[] = {0, 1, 2, 0};
                     be.gather_rows(retyped(a.out[0], i32), a.in[0], rows, 1);
                   }}}});
  // rmsnorm: in x(B,T,C), weight(C); out (B,T,C); aux rstd (B·T); din dx, dweight.
  all.push_back(
      {"rmsnorm",
       {{"rmsnorm_forward shapes",
         [](Backend& be, OpArgs& a) { be.rmsnorm_forward(a.out[0], a.aux[0], a.in[0], shorter(a.in[1])); }},
        {"rmsnorm_forward shapes",
         [](Backend& be, OpArgs& a) { be.rmsnorm_forward(a.out[0], shorter(a.aux[0]), a.in[0], a.in[1]); }},
        {"rmsnorm_forward dtypes",
         [](Backend& be, OpArgs& a) { be.rmsnorm_forward(a.out[0], retyped(a.aux[0], i32), a.in[0], a.in[1]); }},
        {"residual_rmsnorm_forward shapes",
         [](Backend& be, OpArgs& a) {
           be.residual_rmsnorm_forward(a.out[0], a.out[0], a.aux[0], a.in[0], shorter(a.in[0]), a.in[1]);
         }},
        {"residual_rmsnorm_forward dtypes",
         [](Backend& be, OpArgs& a) {
           be.residual_rmsnorm_forward(a.out[0], a.out[0], a.aux[0], a.in[0], retyped(a.in[0], i32), a.in[1]);
         }},
        {"rmsnorm_backward shapes",
         [](Backend& be, OpArgs& a) {
           be.rmsnorm_backward(a.din[0], shorter(a.din[1]), a.dout[0], a.in[0], a.in[1], a.aux[0]);
         }},
        {"rmsnorm_backward dtypes", [](Backend& be, OpArgs& a) {
           be.rmsnorm_backward(a.din[0], a.din[1], retyped(a.dout[0], i32), a.in[0], a.in[1], a.aux[0]);
         }}}});
  // qk_norm: out qkv (B,T,3C), aux rstd (B·T·2·NH); din dqkv.
  all.push_back({"qk_norm",
                 {{"qk_norm_forward shapes",
                   [NH](Backend& be, OpArgs& a) { be.qk_norm_forward(a.out[0], shorter(a.aux[0]), NH); }},
                  {"qk_norm_forward shapes", [](Backend& be, OpArgs& a) { be.qk_norm_forward(a.out[0], a.aux[0], 5); }},
                  {"qk_norm_forward dtypes",
                   [NH](Backend& be, OpArgs& a) { be.qk_norm_forward(retyped(a.out[0], i32), a.aux[0], NH); }},
                  {"qk_norm_backward shapes",
                   [NH](Backend& be, OpArgs& a) { be.qk_norm_backward(shorter(a.din[0]), a.out[0], a.aux[0], NH); }},
                  {"qk_norm_backward dtypes", [NH](Backend& be, OpArgs& a) {
                     be.qk_norm_backward(a.din[0], a.out[0], retyped(a.aux[0], i32), NH);
                   }}}});
  // rope: out qkv (B,T,3C) with C/NH = 4; din dqkv.
  all.push_back(
      {"rope",
       {{"rope shapes", [](Backend& be, OpArgs& a) { be.rope_forward(a.out[0], 4, 0, 100.0); }},  // head size 3
        {"rope shapes", [NH](Backend& be, OpArgs& a) { be.rope_forward(a.out[0], NH, -1, 100.0); }},
        {"rope shapes", [NH](Backend& be, OpArgs& a) { be.rope_forward(a.out[0], NH, 0, 1.0); }},
        {"rope shapes", [NH](Backend& be, OpArgs& a) { be.rope_backward(flat(a.din[0]), NH, 100.0); }},
        {"rope dtypes", [NH](Backend& be, OpArgs& a) { be.rope_forward(retyped(a.out[0], i32), NH, 0, 100.0); }}}});
  // relu2: in x(B,T,H); out (B,T,H).
  all.push_back(
      {"relu2",
       {{"relu2_forward shapes", [](Backend& be, OpArgs& a) { be.relu2_forward(shorter(a.out[0]), a.in[0]); }},
        {"relu2_forward dtypes", [](Backend& be, OpArgs& a) { be.relu2_forward(retyped(a.out[0], i32), a.in[0]); }},
        {"relu2_backward shapes",
         [](Backend& be, OpArgs& a) { be.relu2_backward(a.din[0], shorter(a.dout[0]), a.in[0]); }},
        {"relu2_backward dtypes",
         [](Backend& be, OpArgs& a) { be.relu2_backward(a.din[0], retyped(a.dout[0], i32), a.in[0]); }}}});
  // softcap: in x(B,T,V); out (B,T,V). The capped cross-entropy's cap must not be negative.
  all.push_back(
      {"softcap",
       {{"softcap_forward arguments", [](Backend& be, OpArgs& a) { be.softcap_forward(a.out[0], a.in[0], 0.0); }},
        {"softcap_forward arguments",
         [](Backend& be, OpArgs& a) { be.softcap_forward(shorter(a.out[0]), a.in[0], 2.0); }},
        {"softcap_forward dtypes",
         [](Backend& be, OpArgs& a) { be.softcap_forward(retyped(a.out[0], i32), a.in[0], 2.0); }}}});
  all.push_back({"softcap_cross_entropy", {{"cross_entropy shapes", [RV](Backend& be, OpArgs& a) {
                                              be.cross_entropy(a.out[0], a.din[0], a.in[0], a.ints, RV, 1.0, -1.0);
                                            }}}});
  return all;
}

// Every call of r on `be`, whose name() starts with `family` ("cpu", "cuda"), must throw
// std::logic_error("<family> backend: <what>").
inline void expect_refusals(Backend& be, const std::string& family, const OpRefusals& r) {
  const std::vector<OpCase> cases = all_op_cases();
  const auto c = std::find_if(cases.begin(), cases.end(), [&](const OpCase& oc) { return oc.name == r.op_case; });
  ASSERT_NE(c, cases.end()) << "no op case " << r.op_case;
  OpHarness h(be, *c, 1);
  for (std::size_t i = 0; i < r.refusals.size(); ++i) {
    const Refusal& refusal = r.refusals[i];
    const std::string want = family + " backend: " + refusal.what;
    try {
      refusal.call(be, h.args);
      ADD_FAILURE() << "call " << i << " accepted; expected the refusal '" << want << "'";
    } catch (const std::logic_error& e) {
      EXPECT_EQ(e.what(), want) << "call " << i;
    }
  }
}

}  // namespace gpt::test
