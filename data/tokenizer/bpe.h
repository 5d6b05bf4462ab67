#pragma once
// Byte-pair merging of one piece: start from its bytes' tokens and merge, again and again, the
// adjacent pair whose merged token has the lowest rank (the leftmost such pair on a tie), as
// tiktoken does, until no adjacent pair is a token. A heap keeps this O(n log n) in the piece's
// length, so a long run without spaces (megabytes of punctuation) cannot stall the encoder.
#include <string_view>
#include <vector>

#include "data/tokenizer/vocabulary.h"

namespace gpt {

// Appends the tokens of `piece` (non-empty) to `out`.
void bpe_merge(const Vocabulary& vocabulary, std::string_view piece, std::vector<TokenId>& out);

}  // namespace gpt
