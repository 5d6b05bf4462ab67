#include "data/tokenizer/piece_cache.h"

#include <xxhash.h>

#include <bit>

namespace gpt {

PieceCache::PieceCache(std::size_t max_entries)
    : max_entries_(max_entries), slots_(std::bit_ceil(2 * std::max<std::size_t>(max_entries, 1))) {}

std::size_t PieceCache::probe(std::string_view piece, std::uint64_t hash) const {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.token_count == 0) return i;
    if (slot.hash == hash && slot.piece_length == piece.size() &&
        std::string_view(pieces_).substr(slot.piece_offset, slot.piece_length) == piece) {
      return i;
    }
  }
}

std::span<const TokenId> PieceCache::find(std::string_view piece) const {
  if (piece.size() > max_piece_bytes) return {};
  const Slot& slot = slots_[probe(piece, XXH3_64bits(piece.data(), piece.size()))];
  return {tokens_.data() + slot.token_offset, slot.token_count};
}

void PieceCache::insert(std::string_view piece, std::span<const TokenId> tokens) {
  if (piece.size() > max_piece_bytes || tokens.empty()) return;
  if (entries_ >= max_entries_) clear();
  const std::uint64_t hash = XXH3_64bits(piece.data(), piece.size());
  Slot& slot = slots_[probe(piece, hash)];
  if (slot.token_count != 0) return;  // already there
  slot = {.hash = hash,
          .piece_offset = static_cast<std::uint32_t>(pieces_.size()),
          .token_offset = static_cast<std::uint32_t>(tokens_.size()),
          .piece_length = static_cast<std::uint16_t>(piece.size()),
          .token_count = static_cast<std::uint16_t>(tokens.size())};
  pieces_.append(piece);
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  ++entries_;
}

void PieceCache::clear() {
  std::fill(slots_.begin(), slots_.end(), Slot{});
  pieces_.clear();
  tokens_.clear();
  entries_ = 0;
}

}  // namespace gpt
