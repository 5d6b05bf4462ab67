#include "train/memory_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/errors.h"
#include "core/model/activation_layout.h"

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

// ModelConfig::hidden() in long double: its int64 arithmetic could overflow here.
long double hidden_width(const ModelConfig& m) {
  const long double C = m.n_embd;
  return m.mlp_hidden > 0                     ? static_cast<long double>(m.mlp_hidden)
         : m.activation != Activation::swiglu ? 4 * C
                                              : std::floor((std::floor(8 * C / 3) + 63) / 64) * 64;
}

// The arena sizes the model's config sets (GPT::arena_dims in long double); the caller adds the batch.
ArenaDims<long double> arena_dims(const ModelConfig& m) {
  const long double H = hidden_width(m);
  return {.C = static_cast<long double>(m.n_embd),
          .H = H,
          .fc_out = m.activation == Activation::swiglu ? 2 * H : H,
          .V = static_cast<long double>(m.vocab_size),
          .n_layer = static_cast<long double>(m.n_layer),
          .qk_norm_heads = m.qk_norm ? 2 * static_cast<long double>(m.n_head) : 0};
}

// Bytes of `p` parameters as a model holds them: masters and gradients, and the compute copy.
long double parameter_bytes(long double p, const Backend& backend) {
  const long double param_size = dtype_size(backend.param_dtype()), act_size = dtype_size(backend.act_dtype());
  return p * (2 * param_size + (act_size != param_size ? act_size : 0));
}

}  // namespace

long double parameter_count(const ModelConfig& m) {
  const long double C = m.n_embd, L = m.n_layer, V = m.vocab_size, P = m.block_size;
  const long double H = hidden_width(m), fc_out = m.activation == Activation::swiglu ? 2 * H : H;
  const long double b = m.bias ? 1 : 0, norm_b = m.bias && m.norm == NormKind::layernorm ? 1 : 0;
  const long double positions = m.positions == Positions::learned ? P * C : 0;
  // The parameter table of core/model/param_table.cpp, tensor by tensor.
  const long double per_layer = 2 * (C + norm_b * C)       // ln_1, ln_2
                                + 3 * C * C + b * 3 * C    // attn.c_attn
                                + C * C + b * C            // attn.c_proj
                                + fc_out * C + b * fc_out  // mlp.c_fc
                                + C * H + b * C;           // mlp.c_proj
  return V * C + positions + L * per_layer + (C + norm_b * C) + (m.tie_embeddings ? 0 : V * C);
}

MemoryEstimate estimate_training_memory(const RunConfig& config, const Backend& backend, int world_size) {
  const ModelConfig& m = config.model;
  MemoryEstimate e;
  e.parameters = parameter_count(m);
  e.parameter_bytes = parameter_bytes(e.parameters, backend);
  const long double shards = config.dist.zero_stage == 1 ? world_size : 1;
  e.optimizer_bytes = e.parameters * 2 * 4 / shards;
  // The model's own arena layout (core/model/activation_layout.h), counted in long double.
  ArenaDims<long double> dims = arena_dims(m);
  dims.B = static_cast<long double>(config.train.micro_batch);
  dims.T = static_cast<long double>(config.train.seq_len);
  dims.attention_saved =
      static_cast<long double>(backend.attention_saved_numel(config.train.micro_batch, config.train.seq_len, m.n_head));
  dims.recompute_mlp = config.train.recompute_mlp;
  ArenaBytes arena(backend.act_dtype(), backend.param_dtype());
  lay_out_training(dims, arena);
  e.activation_bytes = arena.bytes();
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

GenerationEstimate estimate_generation_memory(const ModelConfig& m, const Backend& backend,
                                              const GenerationShape& shape) {
  const long double C = m.n_embd, L = m.n_layer, V = m.vocab_size;
  const long double act_size = dtype_size(backend.act_dtype());
  GenerationEstimate e;
  e.parameters = parameter_count(m);
  e.parameter_bytes = parameter_bytes(e.parameters, backend);
  const long double history = shape.prompt_tokens + shape.max_new_tokens;
  const long double capacity = std::min<long double>(static_cast<long double>(m.block_size), history);
  // A KV cache of `rows` rows, and the scratch of GPT::forward_cached for `rows` x capacity tokens
  // (a prefill, or a window that slides), laid out as the model lays it out.
  auto cache = [&](long double rows) {
    const long double keys_values = 2 * L * rows * capacity * C * act_size;
    ArenaDims<long double> dims = arena_dims(m);
    dims.B = rows;
    dims.T = capacity;
    ArenaBytes arena(backend.act_dtype(), backend.param_dtype());
    lay_out_inference_step(dims, arena);
    return keys_values + arena.bytes();
  };
  // The prompt's one row, the batch's rows, and a second set for beams that branch.
  e.cache_bytes = cache(1) + cache(shape.rows) * (shape.beams ? 2 : 1);
  // Host floats: each step's logits as downloaded, cut to the real vocabulary and handed to the
  // token choice (beam search ranks them too); int32 tokens: each row's history, copied once per
  // step, and what is returned (beam search keeps live, next and finished beams).
  e.host_bytes = shape.rows * V * 4 * (shape.beams ? 4 : 3) + shape.rows * history * 4 * (shape.beams ? 6 : 3);
  return e;
}

void check_generation_memory(const ModelConfig& model, const Backend& backend, const GenerationShape& shape,
                             std::size_t backend_available, std::size_t host_available, const GenerationNames& names) {
  const GenerationEstimate e = estimate_generation_memory(model, backend, shape);
  const bool shared = backend.host_memory();
  auto limit_of = [](std::size_t available) {
    return available > 0 ? static_cast<long double>(available) : kBeyondAnyMachine;
  };
  const long double on_backend = e.parameter_bytes + e.cache_bytes + (shared ? e.host_bytes : 0);
  const long double backend_limit = limit_of(shared ? host_available : backend_available);
  const bool backend_short = on_backend > backend_limit;
  const bool host_short = !shared && e.host_bytes > limit_of(host_available);
  if (!backend_short && !host_short) return;

  char count[32];
  std::snprintf(count, sizeof count, "%.3g", static_cast<double>(e.parameters));
  const auto rows = static_cast<long long>(shape.rows), max_new = static_cast<long long>(shape.max_new_tokens);
  const std::string parts = "the model's " + std::string(count) + " parameters " + gib(e.parameter_bytes) +
                            ", the KV caches of " + std::to_string(rows) + " sequence(s) (" + names.rows_flag + ") " +
                            gib(e.cache_bytes) + ", their logits and tokens (up to " + std::to_string(max_new) +
                            " new each, --max-new-tokens) " + gib(e.host_bytes) + (shared ? "" : " on the host");
  const std::size_t available = backend_short ? (shared ? host_available : backend_available) : host_available;
  const std::string where = backend_short && !shared ? "on the device" : "on this host";
  const std::string have = available > 0 ? gib(static_cast<long double>(available)) + " is available " + where
                                         : "that is beyond any machine";
  // The model does not fit even for one sequence of one token: no flag helps.
  const GenerationEstimate least = estimate_generation_memory(model, backend, {});
  const bool model_too_large =
      least.parameter_bytes + least.cache_bytes + (shared ? least.host_bytes : 0) > backend_limit;
  const std::string advice = model_too_large ? "the model itself is too large (" + names.model_source + ")"
                                             : "reduce " + names.rows_flag + " or --max-new-tokens";
  throw ConfigError("generate needs about " + gib(backend_short ? on_backend : e.host_bytes) + " (" + parts +
                    "), but " + have + ": " + advice);
}

}  // namespace gpt
