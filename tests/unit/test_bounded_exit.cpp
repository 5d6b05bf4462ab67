// bounded_exit: the process ends with the given code once the clean-up returns, and within the
// limit when it does not (what keeps the NCCL watchdog from hanging in ncclCommAbort).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "dist/bounded_exit.h"

namespace gpt::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

// Slack for starting the death test's child process (re-executed: other tests may have started
// threads already) on a loaded machine.
constexpr auto kStartupMargin = seconds(9);

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The clean-up outlasts the limit 30-fold; without the timer the child would run it out (and
// still exit 1), so only the elapsed time tells a bounded exit from an unbounded one.
TEST(BoundedExitDeathTest, CleanupThatDoesNotReturnIsCutShort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto limit = seconds(1);
  const Clock::time_point start = Clock::now();
  EXPECT_EXIT(bounded_exit(
                  [] {
                    std::fprintf(stderr, "clean-up started\n");
                    std::fflush(stderr);
                    std::this_thread::sleep_for(seconds(30));
                    std::fprintf(stderr, "clean-up ran to the end\n");
                    std::fflush(stderr);
                  },
                  limit, 1),
              ::testing::ExitedWithCode(1), "clean-up started");
  const double elapsed = seconds_since(start);
  EXPECT_GE(elapsed, 1.0) << "ended before the limit: the clean-up was not given its time";
  EXPECT_LT(elapsed, std::chrono::duration<double>(limit + kStartupMargin).count())
      << "the limit did not end the blocked clean-up";
}

// A clean-up that returns at once ends the process at once, not when the timer would.
TEST(BoundedExitDeathTest, PromptCleanupExitsWithoutWaitingForTheLimit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto limit = seconds(60);
  const Clock::time_point start = Clock::now();
  EXPECT_EXIT(bounded_exit(
                  [] {
                    std::fprintf(stderr, "cleaned up\n");
                    std::fflush(stderr);
                  },
                  limit, 1),
              ::testing::ExitedWithCode(1), "cleaned up");
  EXPECT_LT(seconds_since(start), std::chrono::duration<double>(kStartupMargin).count());
}

// An exception from the clean-up does not escape: the exit code is still the one asked for.
TEST(BoundedExitDeathTest, CleanupThatThrowsStillExitsWithTheCode) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const Clock::time_point start = Clock::now();
  EXPECT_EXIT(bounded_exit([] { throw std::runtime_error("clean-up failed"); }, seconds(60), 3),
              ::testing::ExitedWithCode(3), "");
  EXPECT_LT(seconds_since(start), std::chrono::duration<double>(kStartupMargin).count());
}

}  // namespace
}  // namespace gpt::test
