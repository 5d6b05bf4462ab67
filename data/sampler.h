#pragma once
// Chooses the training windows. Every sequence of every optimizer step has a global index
// g = step · sequences_per_step + j, and its window is a pure function of (seed, g): ranks take
// disjoint j's, and a resumed run (on any number of ranks) continues with the same windows.
//   random: window start uniform in [0, n - T - 1], drawn from a counter-based generator.
//   epoch:  the file split into non-overlapping windows at stride T; each epoch visits all of
//           them once in a seeded permutation (a new permutation per epoch).
#include <cstdint>
#include <vector>

#include "data/token_file.h"

namespace gpt {

enum class Sampling { random, epoch };

class BatchSampler {
 public:
  // Throws DataError if the file holds fewer than seq_len + 1 tokens. `file` must outlive the sampler.
  // Not thread-safe: epoch mode caches the current epoch's permutation (built on first use), so
  // share one sampler across threads only with external locking, or give each thread its own.
  BatchSampler(const TokenFile& file, Sampling mode, std::int64_t seq_len, std::uint64_t seed);

  // Start offset (in tokens) of the window for global sequence index g (g < 0: invalid_argument).
  std::int64_t window_start(std::int64_t g) const;

  // Fills inputs and targets (each rows·seq_len int32) with the windows for global sequence
  // indices first, first+1, ..., first+rows-1: x = data[s : s+T], y = data[s+1 : s+T+1].
  void fill(std::int64_t first, std::int64_t rows, std::int32_t* inputs, std::int32_t* targets) const;

  std::int64_t windows_per_epoch() const { return windows_; }

 private:
  const std::vector<std::int64_t>& permutation(std::int64_t epoch) const;

  const TokenFile* file_;
  Sampling mode_;
  std::int64_t seq_len_;
  std::uint64_t seed_;
  std::int64_t windows_;  // epoch: non-overlapping windows; random: valid start offsets
  // Epoch mode: permutation of window indices for cached_epoch_; rebuilt when another epoch is asked for.
  mutable std::int64_t cached_epoch_ = -1;
  mutable std::vector<std::int64_t> cached_perm_;
};

}  // namespace gpt
