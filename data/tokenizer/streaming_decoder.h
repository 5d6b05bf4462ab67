#pragma once
// Decoding tokens as they come (generation prints a story token by token): a token may end in
// the middle of a character, whose last bytes come with the next token, so the bytes of an
// incomplete character are held back until they are complete. Everything returned, put
// together, is exactly Tokenizer::decode of the whole sequence.
#include <string>

#include "data/tokenizer/tokenizer.h"

namespace gpt {

class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

  // The text that `token` completes (possibly empty). An unknown id is an InputError naming it
  // and its position in the stream.
  std::string push(TokenId token);
  // The end of the sequence: what is held back, as U+FFFD (it can no longer be completed).
  std::string finish();

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;       // bytes not yet returned
  std::size_t position_ = 0;  // tokens pushed so far
};

}  // namespace gpt
