#pragma once
// UTF-8 as the tokenizer needs it: strict validation (no overlong forms, no surrogates, nothing
// above U+10FFFF), the length of an incomplete character at the end of a byte string, and
// conversion of arbitrary bytes to valid UTF-8 with U+FFFD for what is ill-formed.
#include <cstddef>
#include <string>
#include <string_view>

namespace gpt::utf8 {

// The offset of the first byte that does not begin a well-formed character (or of the start of a
// character cut short by the end of `bytes`); std::string_view::npos when `bytes` is valid.
std::size_t first_invalid(std::string_view bytes);

// How many bytes at the end of `bytes` are a proper prefix of a well-formed character that the
// next bytes could complete (0 to 3). A streaming decoder holds them back.
std::size_t incomplete_tail(std::string_view bytes);

// `bytes` with every maximal ill-formed subpart replaced by U+FFFD (the Unicode standard's
// recommended practice, which Python's errors="replace" and tiktoken's decode follow).
std::string replace_invalid(std::string_view bytes);

// The code point starting at bytes[pos], which must be a valid character; advances pos past it.
char32_t decode_at(std::string_view bytes, std::size_t& pos);

// Appends the UTF-8 form of a code point (below 0x110000, not a surrogate).
void append(std::string& out, char32_t code_point);

}  // namespace gpt::utf8
