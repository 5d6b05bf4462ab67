#include "data/tokenizer/utf8.h"

#include <cstdint>
#include <cstring>

namespace gpt::utf8 {
namespace {

// Length of the well-formed character starting at s[0] (Unicode table 3-7), or 0 when the bytes
// there are ill-formed; `partial` is set when they are a valid prefix cut off by the end.
std::size_t char_length(const unsigned char* s, std::size_t available, bool& partial) {
  partial = false;
  const unsigned char b0 = s[0];
  if (b0 < 0x80) return 1;
  std::size_t length = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong below U+0800
    if (b0 == 0xED) hi = 0x9F;  // surrogates U+D800..U+DFFF
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong below U+10000
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;  // a continuation byte, C0, C1 or F5..FF
  }
  for (std::size_t i = 1; i < length; ++i) {
    if (i >= available) {
      partial = true;
      return 0;
    }
    const unsigned char lower = i == 1 ? lo : 0x80, upper = i == 1 ? hi : 0xBF;
    if (s[i] < lower || s[i] > upper) return 0;
  }
  return length;
}

// Length of the maximal ill-formed subpart at s[0]: the longest prefix of a well-formed
// character that is there, at least one byte.
std::size_t ill_formed_length(const unsigned char* s, std::size_t available) {
  std::size_t n = 1;
  bool partial = false;
  // Grow while the first n + 1 bytes are still the beginning of some character.
  while (n < available && n < 3 && char_length(s, n + 1, partial) == 0 && partial) ++n;
  return n;
}

}  // namespace

std::size_t first_invalid(std::string_view bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    // ASCII eight bytes at a time: text is mostly ASCII.
    while (i + 8 <= n) {
      std::uint64_t word;
      std::memcpy(&word, s + i, 8);
      if (word & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    bool partial = false;
    const std::size_t length = char_length(s + i, n - i, partial);
    if (length == 0) return i;
    i += length;
  }
  return std::string_view::npos;
}

std::size_t incomplete_tail(std::string_view bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  // A character is at most 4 bytes, so an incomplete one starts in the last 3.
  for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
    const std::size_t start = n - back;
    if ((s[start] & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    bool partial = false;
    char_length(s + start, back, partial);
    return partial ? back : 0;
  }
  return 0;
}

std::string replace_invalid(std::string_view bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::string out;
  out.reserve(n);
  std::size_t i = 0;
  while (i < n) {
    bool partial = false;
    const std::size_t length = char_length(s + i, n - i, partial);
    if (length != 0) {
      out.append(bytes.data() + i, length);
      i += length;
    } else {
      out.append("\xEF\xBF\xBD");
      i += ill_formed_length(s + i, n - i);
    }
  }
  return out;
}

char32_t decode_at(std::string_view bytes, std::size_t& pos) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data()) + pos;
  if (s[0] < 0x80) {
    ++pos;
    return s[0];
  }
  if (s[0] < 0xE0) {
    pos += 2;
    return (char32_t{s[0] & 0x1Fu} << 6) | (s[1] & 0x3Fu);
  }
  if (s[0] < 0xF0) {
    pos += 3;
    return (char32_t{s[0] & 0x0Fu} << 12) | (char32_t{s[1] & 0x3Fu} << 6) | (s[2] & 0x3Fu);
  }
  pos += 4;
  return (char32_t{s[0] & 0x07u} << 18) | (char32_t{s[1] & 0x3Fu} << 12) | (char32_t{s[2] & 0x3Fu} << 6) |
         (s[3] & 0x3Fu);
}

void append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

}  // namespace gpt::utf8
