#include "data/prepare/progress.h"

#include <algorithm>
#include <cmath>

#include "core/number_text.h"

namespace gpt {

std::string ProgressDisplay::describe(const PrepareProgress& p) {
  const double share = p.bytes_total > 0 ? std::min(1.0, double(p.bytes_done) / double(p.bytes_total)) : 1.0;
  const double rate = p.seconds > 0 ? double(p.bytes_done) / p.seconds : 0;
  const std::string eta =
      rate > 0 ? duration_text(double(p.bytes_total - std::min(p.bytes_done, p.bytes_total)) / rate) : "?";
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, "%5.1f%% %.1f/%.1f MB  %.1f MB/s  %llu stories  ETA %s", 100 * share,
                double(p.bytes_done) / 1e6, double(p.bytes_total) / 1e6, rate / 1e6,
                static_cast<unsigned long long>(p.stories), eta.c_str());
  return buffer;
}

void ProgressDisplay::update(const PrepareProgress& p) {
  if (terminal_) {
    constexpr int width = 30;
    const double share = p.bytes_total > 0 ? std::min(1.0, double(p.bytes_done) / double(p.bytes_total)) : 1.0;
    const int filled = static_cast<int>(share * width);
    status_.update("prepare [" + std::string(filled, '#') + std::string(width - filled, '.') + "] " + describe(p));
    return;
  }
  if (last_ < 0) {  // the first plain line comes after one interval
    last_ = p.seconds;
    return;
  }
  if (p.seconds - last_ < interval_) return;
  last_ = p.seconds;
  std::fprintf(out_, "prepare: %s\n", describe(p).c_str());
  std::fflush(out_);
}

void ProgressDisplay::finish() {
  status_.finish();
}

}  // namespace gpt
