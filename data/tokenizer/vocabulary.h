#pragma once
// GPT-2's byte-level BPE vocabulary, read from the two files OpenAI published with GPT-2:
// encoder.json (token text -> id, the text written in the byte-level alphabet of byte_level.h)
// and vocab.bpe (the merges, in rank order). Immutable once loaded; share it between threads.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gpt {

using TokenId = std::uint32_t;

class Vocabulary {
 public:
  // Reads `dir`/encoder.json and `dir`/vocab.bpe and checks that they agree as tiktoken does:
  // the 256 bytes are ids 0..255 in the alphabet's order, merge i of vocab.bpe makes id 256 + i,
  // and `<|endoftext|>` is the one other token. Throws DataError naming the file (and the line
  // or token) when a file is missing, is not what it should be, or the two disagree.
  static Vocabulary load(const std::filesystem::path& dir);

  std::size_t size() const { return offsets_.size() - 1; }
  TokenId end_of_text() const { return end_of_text_; }
  static constexpr std::string_view end_of_text_text = "<|endoftext|>";

  // The bytes a token stands for (`<|endoftext|>`'s are its text). id must be below size().
  std::string_view bytes(TokenId id) const {
    return std::string_view(bytes_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
  }
  // The token made of exactly these bytes, if any; `<|endoftext|>` is never found here.
  std::optional<TokenId> find(std::string_view bytes) const;
  // The token of one byte.
  TokenId byte_token(unsigned char byte) const { return byte_tokens_[byte]; }
  // The token whose bytes are those of `left` followed by those of `right`, if there is one:
  // BPE merges the adjacent pair whose result has the lowest id (its rank) first.
  std::optional<TokenId> merge(TokenId left, TokenId right) const {
    const auto it = merges_.find(pair_key(left, right));
    if (it == merges_.end()) return std::nullopt;
    return it->second;
  }

 private:
  static std::uint64_t pair_key(TokenId left, TokenId right) { return (std::uint64_t{left} << 32) | right; }
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::string bytes_;                   // every token's bytes, one after another
  std::vector<std::uint32_t> offsets_;  // token id -> start in bytes_, and one past the last
  std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>> by_bytes_;
  std::unordered_map<std::uint64_t, TokenId> merges_;
  TokenId byte_tokens_[256] = {};
  TokenId end_of_text_ = 0;
};

}  // namespace gpt
