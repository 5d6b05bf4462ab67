#pragma once
// prepare's progress on stderr: on a terminal a bar redrawn in place (at most ten times a
// second); otherwise, for logs, a plain line every `log_interval` seconds. Both give the share
// done, MB/s and the time left.
#include <cstdio>
#include <string>

#include "data/prepare/prepare.h"

namespace gpt {

class ProgressDisplay {
 public:
  ProgressDisplay(std::FILE* out, bool terminal, double log_interval = 10)
      : out_(out), terminal_(terminal), interval_(log_interval) {}
  void update(const PrepareProgress& progress);
  void finish();  // ends the bar's line

  // "  41.3% 123.4/298.7 MB  35.2 MB/s  ETA 5 s" (exposed for the tests).
  static std::string describe(const PrepareProgress& progress);

 private:
  std::FILE* out_;
  bool terminal_;
  double interval_, last_ = -1;
  bool drawn_ = false;
};

}  // namespace gpt
