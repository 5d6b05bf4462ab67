#pragma once
// What a run will allocate, worked out from its config alone (nothing is allocated and no
// parameter table is built, so absurd sizes cost nothing to refuse), and the check that it fits
// the memory the backend can still allocate: training (train) and generation (generate).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/model/model_config.h"
#include "core/ops/backend.h"
#include "train/run_config.h"

namespace gpt {

// Elements of the model's parameter table (without its padding of each tensor to 128 elements),
// as long double: a hostile config can exceed any integer type.
long double parameter_count(const ModelConfig& model);

// Counts and bytes as long double: a hostile config can exceed any integer type.
struct MemoryEstimate {
  long double parameters = 0;        // elements of the model
  long double parameter_bytes = 0;   // fp32 masters and gradients, plus the compute copy when it differs
  long double optimizer_bytes = 0;   // AdamW's two fp32 moments (this rank's share under ZeRO-1)
  long double activation_bytes = 0;  // one micro-batch's forward and backward
  long double total() const { return parameter_bytes + optimizer_bytes + activation_bytes; }
};

MemoryEstimate estimate_training_memory(const RunConfig& config, const Backend& backend, int world_size);

// Throws ConfigError with the estimate, the memory available and the keys that shrink it when
// the estimate exceeds this rank's share of `available` bytes (0: unknown, so only sizes beyond
// any machine are refused). `ranks_sharing` ranks draw on the same memory (CPU ranks on one host).
void check_training_memory(const RunConfig& config, const Backend& backend, int world_size, std::size_t available,
                           int ranks_sharing = 1);

// One call of generate: `rows` sequences (samples, or beams) continuing a prompt of
// `prompt_tokens` tokens by up to `max_new_tokens` each.
struct GenerationShape {
  long double rows = 1;
  long double prompt_tokens = 1;
  long double max_new_tokens = 1;
  bool beams = false;  // beam search: a second KV cache for beams that branch, more token copies
};

struct GenerationEstimate {
  long double parameters = 0;
  long double parameter_bytes = 0;  // on the backend: as the model allocates them for training
  long double cache_bytes = 0;      // on the backend: the KV caches and their forward's scratch
  long double host_bytes = 0;       // on the host: logits read back, token histories, beams
};

// What core/generate/generator.cpp allocates for `shape` (upper bounds: the window at its fullest).
GenerationEstimate estimate_generation_memory(const ModelConfig& model, const Backend& backend,
                                              const GenerationShape& shape);

// Names for the refusal: the flag that sets the rows (--num-samples or --beam-width) and where the
// model's shape comes from ("n_layer 12, n_embd 768, ... in DIR/config.json").
struct GenerationNames {
  std::string rows_flag;
  std::string model_source;
};

// Throws ConfigError naming the estimate, what is available and what to reduce (the rows flag,
// --max-new-tokens, or the model itself) when the backend's part exceeds `backend_available` or
// the host's part (all of it on a host-memory backend) exceeds `host_available` (0: unknown, so
// only sizes beyond any machine are refused).
void check_generation_memory(const ModelConfig& model, const Backend& backend, const GenerationShape& shape,
                             std::size_t backend_available, std::size_t host_available, const GenerationNames& names);

}  // namespace gpt
