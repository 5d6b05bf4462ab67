#pragma once
// GPT-2's byte-level alphabet: every byte has a printable stand-in code point, so that a token's
// bytes can be written as text in encoder.json and vocab.bpe. The 188 bytes that are printable
// Latin-1 ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand for themselves; the other 68, in
// byte order, are U+0100, U+0101, ... (so the space 0x20 is U+0120 'Ġ').
#include <array>

namespace gpt::byte_level {

// The stand-in code point of each byte.
std::array<char32_t, 256> byte_to_code_point();

}  // namespace gpt::byte_level
