#pragma once
// config.json of a Hugging Face GPT-2 folder (model_type "gpt2", GPT2LMHeadModel): what decides
// the weights' shapes and the computation, read with transformers' defaults for absent keys, and
// written for a model of ours.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/model/model_config.h"
#include "train/checkpoint/hf/safetensors.h"

namespace gpt {

struct HfGpt2Config {
  std::int64_t vocab_size = 50257;
  std::int64_t n_positions = 1024;
  std::int64_t n_embd = 768;
  std::int64_t n_layer = 12;
  std::int64_t n_head = 12;
  std::int64_t n_inner = 0;  // 0: null in config.json, 4·n_embd
  bool tie_word_embeddings = true;
  std::int64_t hidden() const { return n_inner > 0 ? n_inner : 4 * n_embd; }
};

// Reads `file`. ConfigError naming the file and the key for a value of the wrong type or out of
// range, and for a model our GPT-2 does not compute the same way: another model_type, an
// activation_function other than the tanh GELU ("gelu_new", "gelu_pytorch_tanh"),
// layer_norm_epsilon other than 1e-5, unscaled or layer-scaled attention, cross-attention.
// DataError when it cannot be read or is not JSON.
HfGpt2Config read_hf_gpt2_config(const std::filesystem::path& file);

// Our model of that shape, for a tool that has no run config (generate --hf): GELU, biases,
// block_size = n_positions, the vocabulary padded to a multiple of 64 as model.vocab_size.
ModelConfig model_config_of(const HfGpt2Config& hf);

// The model.* settings GPT-2 does not have (another activation, no biases, RoPE, RMSNorm,
// QK-norm, a logit soft-cap), each as `key = value (why)`; empty for a GPT-2. Initialisation
// (model.zero_init_projections) and sizes are not among them.
std::vector<std::string> gpt2_departures(const ModelConfig& model);

// ConfigError naming every key of `file` that differs from the run's model.* key it must match
// (n_layer, n_head, n_embd, vocab_size against model.real_vocab_size, n_inner against
// model.mlp_hidden, n_positions below model.block_size, untied embeddings into a tied model),
// and a model that GPT-2 cannot fill (gpt2_departures).
void check_hf_fits(const HfGpt2Config& hf, const ModelConfig& model, const std::filesystem::path& file);

// config.json for `model`: GPT2LMHeadModel, activation_function "gelu_new", the real vocabulary,
// n_positions = block_size, dropout as the three pdrop keys, torch_dtype of `format`. ConfigError
// for a model GPT-2's Hugging Face class cannot represent, naming each key (gpt2_departures).
std::string hf_gpt2_config_json(const ModelConfig& model, FloatFormat format, std::int64_t end_of_text);

}  // namespace gpt
