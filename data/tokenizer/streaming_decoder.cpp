#include "data/tokenizer/streaming_decoder.h"

#include "core/errors.h"
#include "data/tokenizer/utf8.h"

namespace gpt {

std::string StreamingDecoder::push(TokenId token) {
  const std::size_t size = tokenizer_->vocabulary().size();
  if (token >= size) {
    throw InputError("token id " + std::to_string(token) + " (at position " + std::to_string(position_) +
                     ") is not in the vocabulary, whose ids are 0 to " + std::to_string(size - 1));
  }
  ++position_;
  pending_ += tokenizer_->vocabulary().bytes(token);
  // What may still become a character stays; everything before it is final, ill-formed parts
  // included (no later byte can make them well-formed).
  const std::size_t keep = utf8::incomplete_tail(pending_);
  std::string text = utf8::replace_invalid(std::string_view(pending_).substr(0, pending_.size() - keep));
  pending_.erase(0, pending_.size() - keep);
  return text;
}

std::string StreamingDecoder::finish() {
  std::string text = utf8::replace_invalid(pending_);
  pending_.clear();
  return text;
}

}  // namespace gpt
