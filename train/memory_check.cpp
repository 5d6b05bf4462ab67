#include "train/memory_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/errors.h"

namespace gpt {
namespace {

// 64 TiB: more than any one machine (and so any one rank) has, refused even when the backend
// cannot say what is available.
constexpr long double kBeyondAnyMachine = 64.0L * 1024 * 1024 * 1024 * 1024;

std::string gib(long double bytes) {
  char text[64];
  if (bytes < 1e15L)
    std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes / (1024.0L * 1024 * 1024)));
  else
    std::snprintf(text, sizeof text, "%.3g GiB", static_cast<double>(bytes / (1024.0L * 1024 * 1024)));
  return text;
}

}  // namespace

MemoryEstimate estimate_training_memory(const RunConfig& config, const Backend& backend, int world_size) {
  const ModelConfig& m = config.model;
  const long double C = m.n_embd, L = m.n_layer, V = m.vocab_size, P = m.block_size;
  // ModelConfig::hidden() in long double: its int64 arithmetic could overflow here.
  const long double H = m.mlp_hidden > 0                   ? static_cast<long double>(m.mlp_hidden)
                        : m.activation == Activation::gelu ? 4 * C
                                                           : std::floor((std::floor(8 * C / 3) + 63) / 64) * 64;
  const long double fc_out = m.activation == Activation::swiglu ? 2 * H : H;
  const long double b = m.bias ? 1 : 0;
  // The parameter table of core/model/param_table.cpp, tensor by tensor (without its padding of
  // each tensor to 128 elements).
  const long double per_layer = 2 * (C + b * C)            // ln_1, ln_2
                                + 3 * C * C + b * 3 * C    // attn.c_attn
                                + C * C + b * C            // attn.c_proj
                                + fc_out * C + b * fc_out  // mlp.c_fc
                                + C * H + b * C;           // mlp.c_proj
  MemoryEstimate e;
  e.parameters = V * C + P * C + L * per_layer + (C + b * C) + (m.tie_embeddings ? 0 : V * C);
  const long double param_size = dtype_size(backend.param_dtype()), act_size = dtype_size(backend.act_dtype());
  e.parameter_bytes = e.parameters * (2 * param_size + (act_size != param_size ? act_size : 0));
  const long double shards = config.dist.zero_stage == 1 ? world_size : 1;
  e.optimizer_bytes = e.parameters * 2 * 4 / shards;
  // The activation arena of GPT::lay_out, per position: activations in the compute dtype,
  // statistics in the parameter dtype, the token ids, and the attention's saved values.
  const long double positions = static_cast<long double>(config.train.micro_batch) * config.train.seq_len;
  const long double per_position = (L + 1) * C                                                    // residual streams
                                   + L * (7 * C + fc_out + (config.train.recompute_mlp ? 0 : H))  // per layer
                                   + (config.train.recompute_mlp ? H : 0)  // the shared MLP output
                                   + 2 * C + V                             // ln_f, proj, logits
                                   + 7 * C + H + fc_out;                   // backward scratch
  const long double stats_per_position = 4 * L + 3;
  const long double saved = L * static_cast<long double>(backend.attention_saved_numel(config.train.micro_batch,
                                                                                       config.train.seq_len, m.n_head));
  e.activation_bytes =
      positions * (per_position * act_size + stats_per_position * param_size + 2 * 4) + saved * param_size;
  return e;
}

void check_training_memory(const RunConfig& config, const Backend& backend, int world_size, std::size_t available,
                           int ranks_sharing) {
  const MemoryEstimate e = estimate_training_memory(config, backend, world_size);
  const int sharing = std::max(ranks_sharing, 1);
  const long double limit = available > 0 ? static_cast<long double>(available) / sharing : kBeyondAnyMachine;
  if (e.total() <= limit) return;
  const std::string where = std::string(backend.host_memory() ? "on this host" : "on the device") +
                            (sharing > 1 ? " for " + std::to_string(sharing) + " ranks, " + gib(limit) + " each" : "");
  char count[32];
  std::snprintf(count, sizeof count, "%.3g", static_cast<double>(e.parameters));
  throw ConfigError("the run needs about " + gib(e.total()) + " (" + count + " parameters: " + gib(e.parameter_bytes) +
                    " of weights and gradients, " + gib(e.optimizer_bytes) + " of AdamW moments, " +
                    gib(e.activation_bytes) +
                    " of activations for train.micro_batch = " + std::to_string(config.train.micro_batch) +
                    ", train.seq_len = " + std::to_string(config.train.seq_len) + "), but " +
                    (available > 0 ? gib(static_cast<long double>(available)) + " is available " + where
                                   : std::string("that is beyond any machine")) +
                    ": reduce model.n_layer, model.n_embd, model.vocab_size, model.block_size, train.micro_batch or "
                    "train.seq_len (train.recompute_mlp and dist.zero_stage = 1 save some too)");
}

}  // namespace gpt
