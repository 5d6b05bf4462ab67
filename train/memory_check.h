#pragma once
// What a training run will allocate, worked out from its config alone (nothing is allocated and
// no parameter table is built, so absurd sizes cost nothing to refuse), and the check that it
// fits the memory the backend can still allocate.
#include <cstddef>

#include "core/ops/backend.h"
#include "train/run_config.h"

namespace gpt {

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

}  // namespace gpt
