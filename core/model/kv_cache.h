#pragma once
// The keys and values of every layer for `batch` sequences of up to `capacity` positions, on the
// model's backend, and the scratch of GPT::forward_cached. All rows hold the same number of
// positions, length(): sampled sequences and beams advance together.
#include <cstdint>
#include <span>

#include "core/ops/backend.h"

namespace gpt {

class GPT;

class KVCache {
 public:
  // capacity: at most the model's block_size (learned positions end there).
  KVCache(const GPT& model, std::int64_t batch, std::int64_t capacity);

  std::int64_t batch() const { return batch_; }
  std::int64_t capacity() const { return capacity_; }
  std::int64_t length() const { return length_; }
  std::int64_t n_layer() const { return n_layer_; }
  std::int64_t width() const { return width_; }
  Backend& backend() const { return *backend_; }
  std::size_t bytes() const { return cache_.bytes() + scratch_.bytes(); }

  // Layer l's keys and values, (batch, capacity, n_embd); positions from length() on are stale.
  Tensor keys(std::int64_t layer) const;
  Tensor values(std::int64_t layer) const;

  // Forgets every position (the next forward_cached starts at position 0).
  void clear() { length_ = 0; }
  // Row i becomes a copy of row rows[i] of `source` (a cache of the same model and capacity), and
  // the length becomes source's: beams follow their parents, samples start from one prompt.
  void assign_rows(const KVCache& source, std::span<const std::int32_t> rows);

 private:
  friend class GPT;  // forward_cached appends and keeps its step's tensors in scratch_
  Tensor layer_tensor(std::int64_t index) const;

  Backend* backend_;
  std::int64_t batch_, capacity_, n_layer_, width_;
  std::int64_t length_ = 0;
  Buffer cache_;    // 2·n_layer tensors (batch, capacity, width): keys of layer l at 2l, values at 2l+1
  Buffer scratch_;  // grown by forward_cached as its steps need
};

}  // namespace gpt
