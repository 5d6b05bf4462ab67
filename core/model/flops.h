#pragma once
#include <cstdint>

#include "core/model/model_config.h"

namespace gpt {

// Floating-point operations of one training step (forward + backward) per token at sequence
// length T: 6 per weight of every matmul (embedding lookups excluded, LM head included) plus the
// attention scores and weighted sums, 6·2·n_layer·T·n_embd, counted as PaLM and nanoGPT count
// (the causal mask's saving not subtracted).
double training_flops_per_token(const ModelConfig& config, std::int64_t T);

}  // namespace gpt
