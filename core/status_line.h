#pragma once
// The one status line of a terminal: redrawn in place (back to the line's start, clear to its
// end, the new text) at most once per interval, erased before other output, or ended with a
// newline so it stays. train's step line and prepare's progress bar both draw through it. Only
// for terminals: a log file gets no carriage returns, so callers write plain lines there.
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace gpt {

class StatusLine {
 public:
  using Clock = std::chrono::steady_clock;
  // write: sends its text to the terminal and flushes.
  explicit StatusLine(std::function<void(std::string_view)> write,
                      Clock::duration min_interval = std::chrono::milliseconds(100))
      : write_(std::move(write)), min_interval_(min_interval) {}

  // Redraws the line with `text`, unless it was drawn less than the interval before `now`.
  // Returns whether it drew.
  bool update(const std::string& text, Clock::time_point now = Clock::now());
  // Erases a shown line, for other output to start at the line's beginning.
  void clear();
  // Ends a shown line with a newline, leaving its last text on screen.
  void finish();
  bool shown() const { return shown_; }

 private:
  std::function<void(std::string_view)> write_;
  Clock::duration min_interval_;
  Clock::time_point last_{};
  bool shown_ = false;
};

}  // namespace gpt
