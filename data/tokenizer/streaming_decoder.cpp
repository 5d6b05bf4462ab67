#include "data/tokenizer/streaming_decoder.h"

#include "data/tokenizer/utf8.h"

namespace gpt {

std::string StreamingDecoder::push(TokenId token) {
  pending_ += tokenizer_->token_bytes(token, position_++);
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
