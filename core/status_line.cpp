#include "core/status_line.h"

namespace gpt {
namespace {

// Back to the line's start, then clear to its end (ANSI "erase in line").
constexpr std::string_view kClearLine = "\r\033[K";

}  // namespace

bool StatusLine::update(const std::string& text, Clock::time_point now) {
  if (shown_ && now - last_ < min_interval_) return false;
  last_ = now;
  write_(std::string(kClearLine) + text);
  shown_ = true;
  return true;
}

void StatusLine::clear() {
  if (!shown_) return;
  write_(kClearLine);
  shown_ = false;
}

void StatusLine::finish() {
  if (!shown_) return;
  write_("\n");
  shown_ = false;
}

}  // namespace gpt
