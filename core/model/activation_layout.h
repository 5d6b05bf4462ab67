#pragma once
// The activation arenas of the model, each written once: a training micro-batch's forward and
// backward (lay_out_training) and one inference step (lay_out_inference_step). GPT lays its
// tensors out with them (core/model/gpt.cpp); the memory checks (train/memory_check.cpp) count the
// same tensors' bytes with ArenaBytes before any model exists, in long double, so a hostile
// config cannot overflow the count and a thousand layers cost one layer's arithmetic.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "core/tensor.h"

namespace gpt {

// One transformer block's tensors.
struct LayerActivations {
  Tensor ln1, ln1_mean, ln1_rstd, qkv, qk_rstd, atty, att_saved, resid_mid, ln2, ln2_mean, ln2_rstd, fch, act;
};

struct TrainingActivations {
  std::int64_t B = 0, T = 0;
  Tensor inputs, targets;        // i32 (B, T)
  std::vector<Tensor> residual;  // n_layer + 1 residual streams (B, T, C)
  std::vector<LayerActivations> layers;
  Tensor shared_act;  // with recompute_mlp: every layer's MLP output, recomputed in the backward
  Tensor lnf, lnf_mean, lnf_rstd, logits, losses, proj;
  // backward scratch
  Tensor dresid, dproj, dln, datty, dqkv, dact, dfch;
};

// A LayerNorm's output and saved statistics.
struct NormActivations {
  Tensor out, mean, rstd;
};

// One inference step's tensors: one LayerActivations serves every layer in turn.
struct InferenceStep {
  Tensor tokens, residual, proj, last, logits;
  LayerActivations layer;
  NormActivations lnf;
};

// What a tensor holds, which sets its element type: activations in the compute type, LayerNorm
// and attention statistics in the parameter type, token ids as int32.
enum class ArenaKind : std::uint8_t { act, stats, i32 };

// The sizes an arena depends on, as N: std::int64_t to lay a real one out, long double to count.
template <class N>
struct ArenaDims {
  N B = 0, T = 0;  // sequences and positions
  N C = 0;         // n_embd
  N H = 0;         // the MLP's hidden width
  N fc_out = 0;    // c_fc's outputs: H, or 2H for SwiGLU
  N V = 0;         // padded vocabulary
  N n_layer = 0;
  N attention_saved = 0;       // training: Backend::attention_saved_numel(B, T, n_head)
  N qk_norm_heads = 0;         // 2·n_head with QK-norm (a saved rstd per query and key head), else 0
  bool recompute_mlp = false;  // training: one MLP output shared by all layers
  bool all_positions = false;  // inference: logits at every position, not just the last
};

// An arena hands out tensors in this order. A Sink has, for N and a selector `slot` (a generic
// lambda returning the Tensor& of a TrainingActivations or InferenceStep to fill):
//   take(slot, {dims}, kind)   the next tensor
//   share(slot, from)          slot refers to the tensor `from` selects; no bytes
//   repeat(count, body)        body(i) for i in [0, count)
template <class N, class Sink>
void lay_out_training(const ArenaDims<N>& d, Sink& sink) {
  const N B = d.B, T = d.T, C = d.C;
  const auto act = ArenaKind::act, stats = ArenaKind::stats;
  sink.take(
      [](auto& a) -> auto& { return a.inputs; }, {B, T}, ArenaKind::i32);
  sink.take(
      [](auto& a) -> auto& { return a.targets; }, {B, T}, ArenaKind::i32);
  sink.repeat(d.n_layer + 1, [&](auto l) {
    sink.take(
        [l](auto& a) -> auto& { return a.residual[l]; }, {B, T, C}, act);
  });
  if (d.recompute_mlp)
    sink.take(
        [](auto& a) -> auto& { return a.shared_act; }, {B, T, d.H}, act);
  sink.repeat(d.n_layer, [&](auto l) {
    auto field = [l](Tensor LayerActivations::*member) {
      return [ l, member ](auto& a) -> auto& {
        return a.layers[l].*member;
      };
    };
    sink.take(field(&LayerActivations::ln1), {B, T, C}, act);
    sink.take(field(&LayerActivations::ln1_mean), {B * T}, stats);
    sink.take(field(&LayerActivations::ln1_rstd), {B * T}, stats);
    sink.take(field(&LayerActivations::qkv), {B, T, 3 * C}, act);
    if (d.qk_norm_heads > 0) sink.take(field(&LayerActivations::qk_rstd), {B * T * d.qk_norm_heads}, stats);
    sink.take(field(&LayerActivations::atty), {B, T, C}, act);
    sink.take(field(&LayerActivations::att_saved), {d.attention_saved}, stats);
    sink.take(field(&LayerActivations::resid_mid), {B, T, C}, act);
    sink.take(field(&LayerActivations::ln2), {B, T, C}, act);
    sink.take(field(&LayerActivations::ln2_mean), {B * T}, stats);
    sink.take(field(&LayerActivations::ln2_rstd), {B * T}, stats);
    sink.take(field(&LayerActivations::fch), {B, T, d.fc_out}, act);
    if (d.recompute_mlp)
      sink.share(
          field(&LayerActivations::act), [](auto& a) -> auto& { return a.shared_act; });
    else
      sink.take(field(&LayerActivations::act), {B, T, d.H}, act);
  });
  sink.take(
      [](auto& a) -> auto& { return a.lnf; }, {B, T, C}, act);
  sink.take(
      [](auto& a) -> auto& { return a.lnf_mean; }, {B * T}, stats);
  sink.take(
      [](auto& a) -> auto& { return a.lnf_rstd; }, {B * T}, stats);
  sink.take(
      [](auto& a) -> auto& { return a.logits; }, {B, T, d.V}, act);
  sink.take(
      [](auto& a) -> auto& { return a.losses; }, {B * T}, stats);
  sink.take(
      [](auto& a) -> auto& { return a.proj; }, {B, T, C}, act);
  sink.take(
      [](auto& a) -> auto& { return a.dresid; }, {B, T, C}, act);
  sink.take(
      [](auto& a) -> auto& { return a.dproj; }, {B, T, C}, act);
  sink.take(
      [](auto& a) -> auto& { return a.dln; }, {B, T, C}, act);
  sink.take(
      [](auto& a) -> auto& { return a.datty; }, {B, T, C}, act);
  sink.take(
      [](auto& a) -> auto& { return a.dqkv; }, {B, T, 3 * C}, act);
  sink.take(
      [](auto& a) -> auto& { return a.dact; }, {B, T, d.H}, act);
  sink.take(
      [](auto& a) -> auto& { return a.dfch; }, {B, T, d.fc_out}, act);
}

// One step of GPT::forward_cached over B sequences of T new tokens (the KV cache is apart).
template <class N, class Sink>
void lay_out_inference_step(const ArenaDims<N>& d, Sink& sink) {
  const N B = d.B, T = d.T, C = d.C;
  const auto act = ArenaKind::act, stats = ArenaKind::stats;
  auto field = [](Tensor LayerActivations::*member) {
    return [member](auto& s) -> auto& {
      return s.layer.*member;
    };
  };
  sink.take(
      [](auto& s) -> auto& { return s.tokens; }, {B, T}, ArenaKind::i32);
  sink.take(
      [](auto& s) -> auto& { return s.residual; }, {B, T, C}, act);
  sink.take(
      [](auto& s) -> auto& { return s.proj; }, {B, T, C}, act);
  sink.take(field(&LayerActivations::ln1), {B, T, C}, act);
  sink.take(field(&LayerActivations::ln1_mean), {B * T}, stats);
  sink.take(field(&LayerActivations::ln1_rstd), {B * T}, stats);
  sink.take(field(&LayerActivations::qkv), {B, T, 3 * C}, act);
  if (d.qk_norm_heads > 0) sink.take(field(&LayerActivations::qk_rstd), {B * T * d.qk_norm_heads}, stats);
  sink.take(field(&LayerActivations::atty), {B, T, C}, act);
  sink.take(field(&LayerActivations::resid_mid), {B, T, C}, act);
  sink.take(field(&LayerActivations::ln2), {B, T, C}, act);
  sink.take(field(&LayerActivations::ln2_mean), {B * T}, stats);
  sink.take(field(&LayerActivations::ln2_rstd), {B * T}, stats);
  sink.take(field(&LayerActivations::fch), {B, T, d.fc_out}, act);
  sink.take(field(&LayerActivations::act), {B, T, d.H}, act);
  sink.take(
      [](auto& s) -> auto& { return s.lnf.out; }, {B, T, C}, act);
  sink.take(
      [](auto& s) -> auto& { return s.lnf.mean; }, {B * T}, stats);
  sink.take(
      [](auto& s) -> auto& { return s.lnf.rstd; }, {B * T}, stats);
  sink.take(
      [](auto& s) -> auto& { return s.last; }, {B, N(1), C}, act);
  if (d.all_positions)
    sink.take(
        [](auto& s) -> auto& { return s.logits; }, {B, T, d.V}, act);
  else
    sink.take(
        [](auto& s) -> auto& { return s.logits; }, {B, d.V}, act);
}

// Every tensor starts on this boundary (the arena's alignment, for vector loads and cuBLASLt).
inline constexpr std::size_t kArenaAlign = 256;

// A Sink that only counts an arena's bytes, in long double: what GPT::activation_bytes and the
// KV cache's scratch come to, without a model. repeat() counts its body once.
class ArenaBytes {
 public:
  ArenaBytes(DType act, DType stats) : act_size_(dtype_size(act)), stats_size_(dtype_size(stats)) {}
  template <class Slot>
  void take(Slot&&, std::initializer_list<long double> dims, ArenaKind kind) {
    long double bytes = kind == ArenaKind::act ? act_size_ : kind == ArenaKind::stats ? stats_size_ : 4;
    for (long double dim : dims) bytes *= dim;
    bytes_ += std::ceil(bytes / kArenaAlign) * kArenaAlign;
  }
  template <class Slot, class From>
  void share(Slot&&, From&&) {}
  template <class Body>
  void repeat(long double count, Body&& body) {
    const long double before = bytes_;
    body(0.0L);
    bytes_ = before + (bytes_ - before) * count;
  }
  long double bytes() const { return bytes_; }

 private:
  long double act_size_, stats_size_;
  long double bytes_ = 0;
};

}  // namespace gpt
