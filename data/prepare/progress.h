#pragma once
// prepare's progress on stderr: on a terminal a bar on the status line (core/status_line.h:
// redrawn in place at most ten times a second); otherwise, for logs, a plain line every `log_interval` seconds. Both
// give the share done, MB/s and the time left.
#include <cstdio>
#include <string>

#include "core/status_line.h"
#include "data/prepare/prepare.h"

namespace gpt {

class ProgressDisplay {
 public:
  ProgressDisplay(std::FILE* out, bool terminal, double log_interval = 10)
      : out_(out), terminal_(terminal), interval_(log_interval), status_([out](std::string_view text) {
          std::fwrite(text.data(), 1, text.size(), out);
          std::fflush(out);
        }) {}
  void update(const PrepareProgress& progress);
  void finish();  // ends the bar's line

  // "  41.3% 123.4/298.7 MB  35.2 MB/s  ETA 5 s" (exposed for the tests).
  static std::string describe(const PrepareProgress& progress);

 private:
  std::FILE* out_;
  bool terminal_;
  double interval_, last_ = -1;
  StatusLine status_;  // on a terminal only
};

}  // namespace gpt
