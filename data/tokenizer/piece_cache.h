#pragma once
// The tokens of pieces seen before: real text repeats its words, so most pieces are looked up
// here instead of being merged again. An open-addressing table over two arenas (piece bytes,
// tokens); when it holds `max_entries` pieces it starts again empty, so its memory is bounded.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/tokenizer/vocabulary.h"

namespace gpt {

class PieceCache {
 public:
  explicit PieceCache(std::size_t max_entries = 1 << 17);

  // The cached tokens of `piece`, or an empty span when it is not cached.
  std::span<const TokenId> find(std::string_view piece) const;
  void insert(std::string_view piece, std::span<const TokenId> tokens);

  std::size_t size() const { return entries_; }
  static constexpr std::size_t max_piece_bytes = 64;  // longer pieces are rare: not cached

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t piece_offset = 0, token_offset = 0;
    std::uint16_t piece_length = 0, token_count = 0;  // token_count 0: empty slot
  };
  std::size_t probe(std::string_view piece, std::uint64_t hash) const;
  void clear();

  std::size_t max_entries_, entries_ = 0;
  std::vector<Slot> slots_;  // twice max_entries_, a power of two: at most half full
  std::string pieces_;
  std::vector<TokenId> tokens_;
};

}  // namespace gpt
