#pragma once
// Numbers as text for messages: a double as the shortest text that reads back as the same value
// (std::to_chars), and a duration the way a person reads one ("42 s", "6 min 05 s", "3 h 12 min").
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

namespace gpt {

inline std::string shortest_text(double value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof(text), value);
  return std::string(text, result.ptr);
}

inline std::string duration_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long s = std::llround(seconds);
  char text[48];
  if (s < 60) {
    std::snprintf(text, sizeof text, "%lld s", s);
  } else if (s < 3600) {
    std::snprintf(text, sizeof text, "%lld min %02lld s", s / 60, s % 60);
  } else {
    std::snprintf(text, sizeof text, "%lld h %02lld min", s / 3600, (s / 60) % 60);
  }
  return text;
}

}  // namespace gpt
