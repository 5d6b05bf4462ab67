#pragma once
// Every op of the Backend interface as a test case: its inputs, outputs, working tensors, and how
// to run its forward and backward. Shared by the finite-difference checks (fp64 CPU backend) and
// the cross-backend checks (fp32 against fp64 on the CPU; CUDA against the CPU, on a GPU and emulated).
#include <cmath>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "core/ops/backend.h"
#include "core/rng.h"

namespace gpt::test {

using Shape = std::vector<std::int64_t>;

struct OpArgs {
  std::vector<Tensor> in, out, aux, dout, din;
  Tensor ints;  // i32 tokens / targets when the op takes them
};

struct OpCase {
  std::string name;
  std::vector<Shape> inputs;         // differentiable, filled with N(0, input_scale)
  std::vector<Shape> outputs;        // the objective is Σ out ⊙ R with random R (uniform R if uniform_dout)
  std::vector<Shape> aux;            // zeroed per-row statistics (param_dtype): mean/rstd, saved state
  std::vector<bool> input_is_param;  // its gradient is a parameter gradient (param_dtype)
  bool outputs_are_stats = false;    // outputs in param_dtype (the per-row losses)
  Shape ints_shape;
  std::int32_t ints_limit = 0;  // ints drawn in [0, ints_limit)
  double input_scale = 1.0;
  bool uniform_dout = false;
  std::function<void(Backend&, OpArgs&)> forward;
  std::function<void(Backend&, OpArgs&)> backward;  // writes din[i] = dObjective/d in[i]; empty: inference only
};

// The cases with a backward: what the finite-difference checks can test.
inline std::vector<OpCase> with_backward(std::vector<OpCase> cases) {
  std::erase_if(cases, [](const OpCase& c) { return !c.backward; });
  return cases;
}

inline Tensor none() {
  return Tensor();
}

// gtest prints a failing case by name rather than as bytes.
inline void PrintTo(const OpCase& c, std::ostream* os) {
  *os << c.name;
}

// Softmax cross-entropy over `rows` rows of V logits, the first `real_vocab` of them real; with
// softcap > 0, of the soft-capped logits, its gradient reaching the logits before the cap.
inline OpCase cross_entropy_case(std::int64_t rows, std::int64_t V, std::int64_t real_vocab, double softcap = 0) {
  return {.name = softcap > 0 ? "softcap_cross_entropy" : "cross_entropy",
          .inputs = {{rows, V}},
          .outputs = {{rows}},
          .aux = {{rows}},
          .outputs_are_stats = true,
          .ints_shape = {rows},
          .ints_limit = static_cast<std::int32_t>(real_vocab),
          .input_scale = 3.0,
          .uniform_dout = true,
          .forward = [real_vocab, softcap](
                         Backend& be,
                         OpArgs& a) { be.cross_entropy(a.out[0], none(), a.in[0], a.ints, real_vocab, 0.0, softcap); },
          .backward =
              [real_vocab, softcap](Backend& be, OpArgs& a) {
                // The fused op takes one dloss for every position (dout is uniform here) and
                // recomputes the losses alongside the gradient.
                float dloss = 0;
                be.download(a.dout[0].rows(0, 1), &dloss);
                be.cross_entropy(a.aux[0], a.din[0], a.in[0], a.ints, real_vocab, dloss, softcap);
              }};
}

// The sizes every case is built from. The defaults are small and odd (partial vectors, partial
// tiles, few enough elements for finite differences); gpt2_widths() has GPT-2's widths, which
// take the CUDA kernels' vectorised and tensor-core paths.
struct OpDims {
  std::int64_t B = 2, T = 7, C = 12, NH = 3, V = 11, RV = 9, H = 10;
};
inline OpDims gpt2_widths() {
  return {.B = 2, .T = 80, .C = 768, .NH = 12, .V = 1024, .RV = 1000, .H = 3072};
}

inline std::vector<OpCase> all_op_cases(const OpDims& dims = {}) {
  std::vector<OpCase> cases;
  const auto [B, T, C, NH64, V, RV, H] = dims;
  const int NH = static_cast<int>(NH64);

  cases.push_back(
      {.name = "embedding",
       .inputs = {{V, C}, {T + 2, C}},
       .outputs = {{B, T, C}},
       .input_is_param = {true, true},
       .ints_shape = {B, T},
       .ints_limit = static_cast<std::int32_t>(RV),
       .forward = [](Backend& be, OpArgs& a) { be.embedding_forward(a.out[0], a.ints, a.in[0], a.in[1]); },
       .backward = [](Backend& be, OpArgs& a) { be.embedding_backward(a.din[0], a.din[1], a.dout[0], a.ints); }});
  // RoPE models have no wpe.
  cases.push_back(
      {.name = "embedding_no_positions",
       .inputs = {{V, C}},
       .outputs = {{B, T, C}},
       .input_is_param = {true},
       .ints_shape = {B, T},
       .ints_limit = static_cast<std::int32_t>(RV),
       .forward = [](Backend& be, OpArgs& a) { be.embedding_forward(a.out[0], a.ints, a.in[0], none()); },
       .backward = [](Backend& be, OpArgs& a) { be.embedding_backward(a.din[0], none(), a.dout[0], a.ints); }});
  cases.push_back(
      {.name = "rmsnorm",
       .inputs = {{B, T, C}, {C}},
       .outputs = {{B, T, C}},
       .aux = {{B * T}},
       .input_is_param = {false, true},
       .forward = [](Backend& be, OpArgs& a) { be.rmsnorm_forward(a.out[0], a.aux[0], a.in[0], a.in[1]); },
       .backward = [](Backend& be,
                      OpArgs& a) { be.rmsnorm_backward(a.din[0], a.din[1], a.dout[0], a.in[0], a.in[1], a.aux[0]); }});
  cases.push_back({.name = "residual_rmsnorm",
                   .inputs = {{B, T, C}, {B, T, C}, {C}},
                   .outputs = {{B, T, C}, {B, T, C}},
                   .aux = {{B * T}},
                   .input_is_param = {false, false, true},
                   .forward =
                       [](Backend& be, OpArgs& a) {
                         be.residual_rmsnorm_forward(a.out[0], a.out[1], a.aux[0], a.in[0], a.in[1], a.in[2]);
                       },
                   .backward =
                       [](Backend& be, OpArgs& a) {
                         be.rmsnorm_backward(a.din[0], a.din[2], a.dout[1], a.out[0], a.in[2], a.aux[0]);
                         be.add(a.din[0], a.din[0], a.dout[0]);
                         be.convert(a.din[1], a.din[0]);
                       }});
  for (bool with_bias : {true, false}) {
    cases.push_back({.name = with_bias ? "layernorm" : "layernorm_nobias",
                     .inputs = {{B, T, C}, {C}, {C}},
                     .outputs = {{B, T, C}},
                     .aux = {{B * T}, {B * T}},
                     .input_is_param = {false, true, true},
                     .forward =
                         [with_bias](Backend& be, OpArgs& a) {
                           be.layernorm_forward(a.out[0], a.aux[0], a.aux[1], a.in[0], a.in[1],
                                                with_bias ? a.in[2] : none());
                         },
                     .backward =
                         [with_bias](Backend& be, OpArgs& a) {
                           be.layernorm_backward(a.din[0], a.din[1], with_bias ? a.din[2] : none(), a.dout[0], a.in[0],
                                                 a.in[1], a.aux[0], a.aux[1]);
                         }});
  }
  // residual = a + b and out = LayerNorm(residual); its gradient is composed from existing ops:
  // d/da = d/db = dresidual + layernorm_backward(dout).
  cases.push_back(
      {.name = "residual_layernorm",
       .inputs = {{B, T, C}, {B, T, C}, {C}, {C}},
       .outputs = {{B, T, C}, {B, T, C}},
       .aux = {{B * T}, {B * T}},
       .input_is_param = {false, false, true, true},
       .forward =
           [](Backend& be, OpArgs& a) {
             be.residual_layernorm_forward(a.out[0], a.out[1], a.aux[0], a.aux[1], a.in[0], a.in[1], a.in[2], a.in[3]);
           },
       .backward =
           [](Backend& be, OpArgs& a) {
             be.layernorm_backward(a.din[0], a.din[2], a.din[3], a.dout[1], a.out[0], a.in[2], a.aux[0], a.aux[1]);
             be.add(a.din[0], a.din[0], a.dout[0]);
             be.convert(a.din[1], a.din[0]);
           }});
  for (bool with_bias : {true, false}) {
    cases.push_back({.name = with_bias ? "matmul" : "matmul_nobias",
                     .inputs = {{B, T, C}, {H, C}, {H}},
                     .outputs = {{B, T, H}},
                     .input_is_param = {false, true, true},
                     .forward =
                         [with_bias](Backend& be, OpArgs& a) {
                           be.matmul_forward(a.out[0], a.in[0], a.in[1], with_bias ? a.in[2] : none());
                         },
                     .backward =
                         [with_bias](Backend& be, OpArgs& a) {
                           be.matmul_backward(a.din[0], a.din[1], with_bias ? a.din[2] : none(), a.dout[0], a.in[0],
                                              a.in[1]);
                         }});
  }
  cases.push_back(
      {.name = "attention",
       .inputs = {{B, T, 3 * C}},
       .outputs = {{B, T, C}},
       .aux = {{B * NH * T * T}},  // at least the CPU's saved size; checked by the op
       .forward = [NH](Backend& be, OpArgs& a) { be.attention_forward(a.out[0], a.aux[0], a.in[0], NH); },
       .backward = [NH](Backend& be,
                        OpArgs& a) { be.attention_backward(a.din[0], a.dout[0], a.in[0], a.out[0], a.aux[0], NH); }});
  // The in-place ops on qkv: the output starts as a copy of the input, and so does the gradient
  // (values pass through unchanged). qk_norm then rope is the order the model runs them in, and
  // its backward runs qk_norm's in the rotated space (see Backend::qk_norm_backward).
  const double rope_base = 100.0;  // a small base turns the short test sequence through many angles
  cases.push_back({.name = "qk_norm",
                   .inputs = {{B, T, 3 * C}},
                   .outputs = {{B, T, 3 * C}},
                   .aux = {{B * T * 2 * NH}},
                   .forward =
                       [NH](Backend& be, OpArgs& a) {
                         be.convert(a.out[0], a.in[0]);
                         be.qk_norm_forward(a.out[0], a.aux[0], NH);
                       },
                   .backward =
                       [NH](Backend& be, OpArgs& a) {
                         be.convert(a.din[0], a.dout[0]);
                         be.qk_norm_backward(a.din[0], a.out[0], a.aux[0], NH);
                       }});
  cases.push_back({.name = "rope",
                   .inputs = {{B, T, 3 * C}},
                   .outputs = {{B, T, 3 * C}},
                   .forward =
                       [NH, rope_base](Backend& be, OpArgs& a) {
                         be.convert(a.out[0], a.in[0]);
                         be.rope_forward(a.out[0], NH, 0, rope_base);
                       },
                   .backward =
                       [NH, rope_base](Backend& be, OpArgs& a) {
                         be.convert(a.din[0], a.dout[0]);
                         be.rope_backward(a.din[0], NH, rope_base);
                       }});
  cases.push_back({.name = "qk_norm_rope",
                   .inputs = {{B, T, 3 * C}},
                   .outputs = {{B, T, 3 * C}},
                   .aux = {{B * T * 2 * NH}},
                   .forward =
                       [NH, rope_base](Backend& be, OpArgs& a) {
                         be.convert(a.out[0], a.in[0]);
                         be.qk_norm_forward(a.out[0], a.aux[0], NH);
                         be.rope_forward(a.out[0], NH, 0, rope_base);
                       },
                   .backward =
                       [NH, rope_base](Backend& be, OpArgs& a) {
                         be.convert(a.din[0], a.dout[0]);
                         be.qk_norm_backward(a.din[0], a.out[0], a.aux[0], NH);
                         be.rope_backward(a.din[0], NH, rope_base);
                       }});
  cases.push_back({.name = "relu2",
                   .inputs = {{B, T, H}},
                   .outputs = {{B, T, H}},
                   .forward = [](Backend& be, OpArgs& a) { be.relu2_forward(a.out[0], a.in[0]); },
                   .backward = [](Backend& be, OpArgs& a) { be.relu2_backward(a.din[0], a.dout[0], a.in[0]); }});
  cases.push_back({.name = "gelu",
                   .inputs = {{B, T, H}},
                   .outputs = {{B, T, H}},
                   .input_scale = 2.0,
                   .forward = [](Backend& be, OpArgs& a) { be.gelu_forward(a.out[0], a.in[0]); },
                   .backward = [](Backend& be, OpArgs& a) { be.gelu_backward(a.din[0], a.dout[0], a.in[0]); }});
  cases.push_back({.name = "swiglu",
                   .inputs = {{B, T, 2 * H}},
                   .outputs = {{B, T, H}},
                   .input_scale = 2.0,
                   .forward = [](Backend& be, OpArgs& a) { be.swiglu_forward(a.out[0], a.in[0]); },
                   .backward = [](Backend& be, OpArgs& a) { be.swiglu_backward(a.din[0], a.dout[0], a.in[0]); }});
  cases.push_back({.name = "add",
                   .inputs = {{B, T, C}, {B, T, C}},
                   .outputs = {{B, T, C}},
                   .forward = [](Backend& be, OpArgs& a) { be.add(a.out[0], a.in[0], a.in[1]); },
                   .backward =
                       [](Backend& be, OpArgs& a) {
                         // The residual add passes its gradient to both inputs unchanged.
                         be.convert(a.din[0], a.dout[0]);
                         be.convert(a.din[1], a.dout[0]);
                       }});
  cases.push_back({.name = "dropout",
                   .inputs = {{B, T, C}},
                   .outputs = {{B, T, C}},
                   .forward = [](Backend& be, OpArgs& a) { be.dropout_forward(a.out[0], a.in[0], 0.3, 42); },
                   .backward = [](Backend& be, OpArgs& a) { be.dropout_backward(a.din[0], a.dout[0], 0.3, 42); }});
  cases.push_back(cross_entropy_case(B * T, V, RV));
  cases.push_back(cross_entropy_case(B * T, V, RV, 2.0));  // a low cap: most logits are well inside tanh's bend

  // Inference: RoPE at a KV cache's length.
  cases.push_back({.name = "rope_at_position",
                   .inputs = {{B, T, 3 * C}},
                   .outputs = {{B, T, 3 * C}},
                   .forward = [NH, rope_base](Backend& be, OpArgs& a) {
                     be.convert(a.out[0], a.in[0]);
                     be.rope_forward(a.out[0], NH, 5, rope_base);
                   }});
  cases.push_back({.name = "softcap",
                   .inputs = {{B, T, V}},
                   .outputs = {{B, T, V}},
                   .input_scale = 3.0,
                   .forward = [](Backend& be, OpArgs& a) { be.softcap_forward(a.out[0], a.in[0], 2.0); }});

  // Inference (no backward). A KV-cached forward's new tokens start at the cache's length.
  const std::int64_t position = 3, S = position + T + 2;  // the cache has room to spare
  cases.push_back({.name = "embedding_at_position",
                   .inputs = {{V, C}, {position + T + 1, C}},
                   .outputs = {{B, T, C}},
                   .ints_shape = {B, T},
                   .ints_limit = static_cast<std::int32_t>(RV),
                   .forward = [position](Backend& be, OpArgs& a) {
                     be.embedding_forward(a.out[0], a.ints, a.in[0], a.in[1], position);
                   }});
  // Positions before `position` and after position + T keep what the cache held (zeros here).
  cases.push_back({.name = "kv_cache_write",
                   .inputs = {{B, T, 3 * C}},
                   .outputs = {{B, S, C}, {B, S, C}},
                   .forward = [position](Backend& be, OpArgs& a) {
                     be.zero(a.out[0]);
                     be.zero(a.out[1]);
                     be.kv_cache_write(a.out[0], a.out[1], a.in[0], position);
                   }});
  // The cache's positions from position + T on hold values no query may see.
  cases.push_back({.name = "cached_attention",
                   .inputs = {{B, T, 3 * C}, {B, S, C}, {B, S, C}},
                   .outputs = {{B, T, C}},
                   .forward = [position, NH](Backend& be, OpArgs& a) {
                     be.cached_attention_forward(a.out[0], a.in[0], a.in[1], a.in[2], position, NH);
                   }});
  // Rows repeated and reordered, a prefix of each (the rest of dst stays zero).
  cases.push_back(
      {.name = "gather_rows", .inputs = {{3, S, C}}, .outputs = {{4, S, C}}, .forward = [S](Backend& be, OpArgs& a) {
         const std::int32_t rows[] = {2, 0, 2, 1};
         be.zero(a.out[0]);
         be.gather_rows(a.out[0], a.in[0], rows, S - 2);
       }});
  return cases;
}

}  // namespace gpt::test
