// The one status line (core/status_line.h): what reaches the terminal, and when.
#include "core/status_line.h"

#include <gtest/gtest.h>

#include <string>

namespace gpt {
namespace {

using std::chrono::milliseconds;

struct Terminal {
  std::string seen;
  StatusLine line{[this](std::string_view text) { seen += text; }, milliseconds(100)};
};

TEST(StatusLine, RedrawsInPlaceAtMostOncePerInterval) {
  Terminal t;
  const auto start = StatusLine::Clock::time_point{} + std::chrono::hours(1);
  EXPECT_TRUE(t.line.update("step 1", start));
  EXPECT_FALSE(t.line.update("step 2", start + milliseconds(50)));  // too soon: dropped
  EXPECT_TRUE(t.line.update("step 3", start + milliseconds(150)));
  EXPECT_EQ(t.seen, "\r\033[Kstep 1\r\033[Kstep 3");
  EXPECT_TRUE(t.line.shown());
}

TEST(StatusLine, ClearErasesAShownLineOnlyAndTheNextUpdateDrawsAtOnce) {
  Terminal t;
  t.line.clear();  // nothing shown: nothing written
  EXPECT_EQ(t.seen, "");
  const auto now = StatusLine::Clock::now();
  t.line.update("step 1", now);
  t.line.clear();
  EXPECT_FALSE(t.line.shown());
  EXPECT_TRUE(t.line.update("step 2", now + milliseconds(1)));  // a cleared line is redrawn, not throttled
  EXPECT_EQ(t.seen, "\r\033[Kstep 1\r\033[K\r\033[Kstep 2");
}

TEST(StatusLine, FinishEndsAShownLineWithANewlineOnce) {
  Terminal t;
  t.line.finish();
  EXPECT_EQ(t.seen, "");
  t.line.update("prepare [####] 100%");
  t.line.finish();
  t.line.finish();
  EXPECT_EQ(t.seen, "\r\033[Kprepare [####] 100%\n");
}

}  // namespace
}  // namespace gpt
