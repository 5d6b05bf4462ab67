#pragma once
// Small models and batches for the model tests.
#include <cstdint>
#include <vector>

#include "core/model/gpt.h"
#include "core/rng.h"

namespace gpt::test {

inline ModelConfig tiny_model(Activation act, bool bias, bool tied) {
  ModelConfig c;
  c.vocab_size = 23;
  c.real_vocab_size = 19;
  c.block_size = 8;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 8;
  c.activation = act;
  c.bias = bias;
  c.tie_embeddings = tied;
  c.mlp_hidden = act == Activation::swiglu ? 12 : 0;
  return c;
}

// tiny_model with every option of the modern recipe on: RoPE (a small base, so the few positions
// turn far), RMSNorm, QK-norm, ReLU², a logit soft-cap.
inline ModelConfig tiny_modern_model(bool bias, bool tied) {
  ModelConfig c = tiny_model(Activation::relu2, bias, tied);
  c.positions = Positions::rope;
  c.rope_base = 50;
  c.norm = NormKind::rmsnorm;
  c.qk_norm = true;
  c.logit_softcap = 5;
  return c;
}

struct HostBatch {
  std::int64_t B, T;
  std::vector<std::int32_t> inputs, targets;
  Batch view() const { return {inputs.data(), targets.data(), B, T}; }
};

inline HostBatch random_batch(std::int64_t B, std::int64_t T, std::int64_t vocab, std::uint64_t seed) {
  HostBatch b{B, T, {}, {}};
  for (std::int64_t i = 0; i < B * T; ++i) {
    b.inputs.push_back(static_cast<std::int32_t>(rng::below(seed, 2 * static_cast<std::uint64_t>(i), vocab)));
    b.targets.push_back(static_cast<std::int32_t>(rng::below(seed, 2 * static_cast<std::uint64_t>(i) + 1, vocab)));
  }
  return b;
}

// Every parameter and gradient as doubles (the flat buffers of a CPU backend are host memory).
template <class T>
std::vector<double> host_values(const Tensor& t) {
  const T* p = t.data<T>();
  return std::vector<double>(p, p + t.numel());
}

}  // namespace gpt::test
