#pragma once
// The shape of a GPT-2 model, as the [model] section of a run's TOML describes it.
#include <cstdint>

namespace gpt {

enum class Activation { gelu, swiglu, relu2 };
enum class Positions { learned, rope };  // a wpe table, or rotary embeddings of q and k
enum class NormKind { layernorm, rmsnorm };

struct ModelConfig {
  std::int64_t vocab_size = 50304;       // embedding rows and logits; GPT-2's 50257 padded to a multiple of 64
  std::int64_t real_vocab_size = 50257;  // token ids that exist; logits from here to vocab_size are padding
  std::int64_t block_size = 1024;        // longest sequence (rows of wpe)
  std::int64_t n_layer = 12;
  std::int64_t n_head = 12;
  std::int64_t n_embd = 768;
  std::int64_t mlp_hidden = 0;  // 0: 4·n_embd for gelu and relu2, 8/3·n_embd rounded up to a multiple of 64 for swiglu
  double dropout = 0.0;
  bool bias = true;  // biases in every linear layer and LayerNorm
  Activation activation = Activation::gelu;
  bool tie_embeddings = true;
  Positions positions = Positions::learned;
  double rope_base = 10000.0;           // RoPE's θ: pair i of a head turns by position · rope_base^(−2i/head_dim)
  NormKind norm = NormKind::layernorm;  // rmsnorm has no bias, whatever `bias` says
  bool qk_norm = false;                 // queries and keys scaled to unit RMS per head before attention
  bool zero_init_projections = false;   // attn.c_proj and mlp.c_proj start at zero: each block starts as the identity
  double logit_softcap = 0;             // > 0: logits = cap · tanh(logits / cap)

  std::int64_t head_dim() const { return n_embd / n_head; }

  std::int64_t hidden() const {
    if (mlp_hidden > 0) return mlp_hidden;
    if (activation != Activation::swiglu) return 4 * n_embd;
    return (8 * n_embd / 3 + 63) / 64 * 64;
  }

  // Throws ConfigKeyError: the message names the offending model.* keys, and keys() lists them.
  void validate() const;
};

}  // namespace gpt
