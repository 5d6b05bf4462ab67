#include "core/model/kv_cache.h"

#include <stdexcept>
#include <string>

#include "core/model/gpt.h"

namespace gpt {

KVCache::KVCache(const GPT& model, std::int64_t batch, std::int64_t capacity)
    : backend_(&model.backend()),
      batch_(batch),
      capacity_(capacity),
      n_layer_(model.config().n_layer),
      width_(model.config().n_embd) {
  if (batch < 1 || capacity < 1 || capacity > model.config().block_size)
    throw std::invalid_argument("a KV cache of " + std::to_string(batch) + " rows and " + std::to_string(capacity) +
                                " positions does not fit the model's block_size " +
                                std::to_string(model.config().block_size));
  const std::size_t bytes =
      static_cast<std::size_t>(2 * n_layer_ * batch_ * capacity_ * width_) * dtype_size(backend_->act_dtype());
  cache_ = Buffer(*backend_, bytes);
}

Tensor KVCache::layer_tensor(std::int64_t index) const {
  const std::size_t bytes = static_cast<std::size_t>(batch_ * capacity_ * width_) * dtype_size(backend_->act_dtype());
  return cache_.tensor(static_cast<std::size_t>(index) * bytes, backend_->act_dtype(), {batch_, capacity_, width_});
}

Tensor KVCache::keys(std::int64_t layer) const {
  return layer_tensor(2 * layer);
}

Tensor KVCache::values(std::int64_t layer) const {
  return layer_tensor(2 * layer + 1);
}

void KVCache::assign_rows(const KVCache& source, std::span<const std::int32_t> rows) {
  if (source.backend_ != backend_ || source.n_layer_ != n_layer_ || source.width_ != width_ ||
      source.capacity_ != capacity_ || static_cast<std::int64_t>(rows.size()) != batch_ || &source == this)
    throw std::logic_error("KVCache::assign_rows: caches of different shapes, or the same cache");
  for (std::int64_t i = 0; i < 2 * n_layer_; ++i)
    backend_->gather_rows(layer_tensor(i), source.layer_tensor(i), rows, source.length_);
  length_ = source.length_;
}

}  // namespace gpt
