#include "data/tokenizer/tokenizer.h"

#include <algorithm>

#include "core/errors.h"
#include "data/tokenizer/bpe.h"
#include "data/tokenizer/utf8.h"

namespace gpt {

Tokenizer::Tokenizer(std::shared_ptr<const Vocabulary> vocabulary) : vocabulary_(std::move(vocabulary)) {}

Tokenizer Tokenizer::load(const std::filesystem::path& dir) {
  return Tokenizer(std::make_shared<const Vocabulary>(Vocabulary::load(dir)));
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, SpecialTokens special) {
  std::vector<TokenId> out;
  encode(text, out, special);
  return out;
}

void Tokenizer::encode(std::string_view text, std::vector<TokenId>& out, SpecialTokens special) {
  if (const std::size_t bad = utf8::first_invalid(text); bad != std::string_view::npos) {
    throw InvalidUtf8Error(bad);
  }
  if (special == SpecialTokens::as_text) {
    encode_ordinary(text, out, 0, nullptr);
    return;
  }
  const std::string_view marker = Vocabulary::end_of_text_text;
  for (std::size_t start = 0;;) {
    const std::size_t found = text.find(marker, start);
    encode_ordinary(text.substr(start, found - start), out, 0, nullptr);
    if (found == std::string_view::npos) return;
    out.push_back(end_of_text());
    start = found + marker.size();
  }
}

void Tokenizer::encode(std::string_view text, std::size_t run_tokens, const RunSink& sink) {
  if (const std::size_t bad = utf8::first_invalid(text); bad != std::string_view::npos) {
    throw InvalidUtf8Error(bad);
  }
  run_.clear();
  encode_ordinary(text, run_, run_tokens, &sink);
  if (!run_.empty()) sink(run_);
  run_.clear();
}

void Tokenizer::encode_ordinary(std::string_view text, std::vector<TokenId>& out, std::size_t run_tokens,
                                const RunSink* sink) {
  // With a sink, `out` is handed on whenever it holds run_tokens, after a piece or a chunk of one.
  auto hand_on_full_run = [&] {
    if (sink && out.size() >= run_tokens) {
      (*sink)(out);
      out.clear();
    }
  };
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = pre_tokenizer_.piece_end(text, start);
    const std::string_view piece = text.substr(start, end - start);
    if (piece.size() <= max_merged_piece_bytes) {
      encode_piece(piece, out);
    } else {
      // Merging takes some 25 bytes per byte of the piece (1.28 GB for 50 MB): a pathological
      // one (megabytes of punctuation) is merged in chunks cut at character boundaries, so memory
      // stays bounded. No token is that long; the chunks are not cached.
      for (std::size_t chunk = 0; chunk < piece.size();) {
        std::size_t chunk_end = std::min(chunk + max_merged_piece_bytes, piece.size());
        while (chunk_end < piece.size() && (static_cast<unsigned char>(piece[chunk_end]) & 0xC0) == 0x80) --chunk_end;
        bpe_merge(*vocabulary_, piece.substr(chunk, chunk_end - chunk), out);
        chunk = chunk_end;
        hand_on_full_run();
      }
    }
    hand_on_full_run();
    start = end;
  }
}

void Tokenizer::encode_piece(std::string_view piece, std::vector<TokenId>& out) {
  if (piece.size() == 1) {
    out.push_back(vocabulary_->byte_token(static_cast<unsigned char>(piece[0])));
    return;
  }
  if (const auto cached = cache_.find(piece); !cached.empty()) {
    out.insert(out.end(), cached.begin(), cached.end());
    return;
  }
  // As tiktoken: a piece that is a token is that token, whatever the merges would make of it.
  merged_.clear();
  if (const auto whole = vocabulary_->find(piece)) {
    merged_.push_back(*whole);
  } else {
    bpe_merge(*vocabulary_, piece, merged_);
  }
  cache_.insert(piece, merged_);
  out.insert(out.end(), merged_.begin(), merged_.end());
}

std::string_view Tokenizer::token_bytes(TokenId token, std::size_t position) const {
  if (token >= vocabulary_->size()) {
    throw InputError("token id " + std::to_string(token) + " (at position " + std::to_string(position) +
                     ") is not in the vocabulary, whose ids are 0 to " + std::to_string(vocabulary_->size() - 1));
  }
  return vocabulary_->bytes(token);
}

std::string Tokenizer::decode_bytes(std::span<const TokenId> tokens) const {
  std::string out;
  for (std::size_t i = 0; i < tokens.size(); ++i) out += token_bytes(tokens[i], i);
  return out;
}

std::string Tokenizer::decode(std::span<const TokenId> tokens) const {
  return utf8::replace_invalid(decode_bytes(tokens));
}

}  // namespace gpt
