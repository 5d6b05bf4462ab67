#pragma once
// GPT-2's byte-level BPE tokenizer, token for token the same as tiktoken's `gpt2` encoding:
// PCRE2 cuts the text into pieces with GPT-2's pattern, a piece that is a token is that token,
// and any other is split into bytes whose adjacent pairs are merged, lowest rank first.
// One exception bounds memory: a piece longer than max_merged_piece_bytes (64 KiB of letters,
// digits, punctuation or white space without a break: no real text) is merged in chunks of at
// most that length, cut at character boundaries; its tokens can then differ from tiktoken's,
// only inside that piece (no merge crosses a cut), and they still decode to the same text.
//
// A Tokenizer is not thread-safe (it caches the tokens of recent pieces); copy it for each
// thread: copies share the vocabulary and the compiled pattern.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/errors.h"
#include "data/tokenizer/piece_cache.h"
#include "data/tokenizer/pre_tokenizer.h"
#include "data/tokenizer/vocabulary.h"

namespace gpt {

// Whether `<|endoftext|>` in the text is the special token 50256 or ordinary text (tiktoken's
// encode(..., allowed_special={"<|endoftext|>"}) and encode_ordinary).
enum class SpecialTokens { as_text, allowed };

// Text to encode that is not valid UTF-8; offset() is that of the first bad byte.
class InvalidUtf8Error : public InputError {
 public:
  explicit InvalidUtf8Error(std::size_t offset)
      : InputError("the text is not valid UTF-8 at byte offset " + std::to_string(offset)), offset_(offset) {}
  std::size_t offset() const { return offset_; }

 private:
  std::size_t offset_;
};

class Tokenizer {
 public:
  explicit Tokenizer(std::shared_ptr<const Vocabulary> vocabulary);
  // The vocabulary in `dir` (encoder.json, vocab.bpe); throws DataError as Vocabulary::load.
  static Tokenizer load(const std::filesystem::path& dir);

  // Appends the tokens of `text` to `out`. Text that is not valid UTF-8 is an InvalidUtf8Error.
  void encode(std::string_view text, std::vector<TokenId>& out, SpecialTokens special = SpecialTokens::as_text);
  std::vector<TokenId> encode(std::string_view text, SpecialTokens special = SpecialTokens::as_text);
  // The same tokens as encode(text) (`<|endoftext|>` as text), handed to `sink` in runs of at
  // least `run_tokens` (the last may be shorter; a run can exceed it by one piece's tokens), so
  // that a long text needs no buffer for all its tokens.
  using RunSink = std::function<void(std::span<const TokenId>)>;
  void encode(std::string_view text, std::size_t run_tokens, const RunSink& sink);

  // The exact bytes of the tokens (a token may end inside a character: see StreamingDecoder).
  // An id the vocabulary does not have is an InputError naming it and its position.
  std::string decode_bytes(std::span<const TokenId> tokens) const;
  // The same as text: valid UTF-8, with U+FFFD for each ill-formed part (as tiktoken's decode).
  std::string decode(std::span<const TokenId> tokens) const;
  // One token's bytes; an unknown id is an InputError naming it and `position`, its place in
  // the caller's sequence.
  std::string_view token_bytes(TokenId token, std::size_t position) const;

  const Vocabulary& vocabulary() const { return *vocabulary_; }
  TokenId end_of_text() const { return vocabulary_->end_of_text(); }
  bool jit() const { return pre_tokenizer_.jit(); }

  static constexpr std::size_t max_merged_piece_bytes = 64 * 1024;

 private:
  void encode_ordinary(std::string_view text, std::vector<TokenId>& out, std::size_t run_tokens, const RunSink* sink);
  void encode_piece(std::string_view piece, std::vector<TokenId>& out);

  std::shared_ptr<const Vocabulary> vocabulary_;
  PreTokenizer pre_tokenizer_;
  PieceCache cache_;
  std::vector<TokenId> merged_;  // scratch for one piece
  std::vector<TokenId> run_;     // scratch for encode(text, run_tokens, sink)
};

}  // namespace gpt
