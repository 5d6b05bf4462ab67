#pragma once
// A double as the shortest text that reads back as the same value (std::to_chars), for messages.
#include <charconv>
#include <string>

namespace gpt {

inline std::string shortest_text(double value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof(text), value);
  return std::string(text, result.ptr);
}

}  // namespace gpt
