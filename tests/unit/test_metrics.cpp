// The metrics log: a resumed run keeps its records up to the step it resumed from (whatever else
// the file holds), and a full disk costs the file, never the run.
#include "train/observe/metrics.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/read_file.h"
#include "tests/support/temp_dir_test.h"

namespace gpt {
namespace {

class MetricsLogTest : public test::TempDirTest {};

std::string read_all(const std::filesystem::path& p) {
  return test::read_file(p);
}

TEST_F(MetricsLogTest, ResumeKeepsRecordsUpToItsStepAndDropsForeignLines) {
  const auto path = dir_ / "metrics.jsonl";
  std::ofstream(path) << "{\"step\":1,\"loss\":9.5}\n"
                         "{\"step\":\"two\"}\n"  // hand-edited
                         "[2]\n"
                         "{\"step\":3,\"loss\":9.1}\n"
                         "{\"step\":5,\"loss\":8.7}\n"
                         "{\"step\":6,\"lo";  // cut short by a crash
  std::ostringstream console;
  {
    MetricsLog log(console, path, 10, 3);
    log.write({.step = 4, .loss = 8.9});
  }
  EXPECT_EQ(read_all(path), "{\"step\":1,\"loss\":9.5}\n{\"step\":3,\"loss\":9.1}\n{\"loss\":8.9,\"step\":4}\n");
  for (const auto& entry : std::filesystem::directory_iterator(path.parent_path()))  // NAME.tmp-PID
    EXPECT_EQ(entry.path().filename().string().find(path.filename().string() + ".tmp"), std::string::npos)
        << "a temporary was left behind: " << entry.path();
}

TEST_F(MetricsLogTest, UnwritableRecordIsReportedOnceAndTheRunGoesOn) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full on this machine";
  std::ostringstream console;
  MetricsLog log(console, "/dev/full", 10);
  log.write({.step = 1, .loss = 9.0});
  log.write({.step = 2, .loss = 8.0});
  const std::string out = console.str();
  const std::string warning = "warning: cannot write /dev/full (No space left on device)";
  ASSERT_NE(out.find(warning), std::string::npos) << out;
  EXPECT_EQ(out.find(warning), out.rfind(warning)) << "reported twice: " << out;
  EXPECT_NE(out.find("step  2/10 | loss 8.0000"), std::string::npos) << out;
}

TEST_F(MetricsLogTest, ConsoleLineShowsMfuAndEtaAndLeavesOutWhatIsUnknown) {
  std::ostringstream console;
  MetricsLog log(console, dir_ / "metrics.jsonl", 600);
  StepRecord r{.step = 50,
               .loss = 5.9569,
               .lr = 2.599e-3,
               .grad_norm = 1.134,
               .ms = 302.1,
               .tokens_per_s = 3390,
               .mfu = 0.3125,
               .tokens = 51200,
               .eta_s = 166};
  EXPECT_EQ(
      log.console_line(r),
      "step  50/600 | loss 5.9569 | lr 2.599e-03 | norm 1.134 | 302.1 ms | 3390 tok/s | MFU 31.2% | ETA 2 min 46 s");
  r.mfu.reset();  // an unknown peak: no MFU at all, not 0% or inf
  r.step = 600;   // the last step: nothing left to estimate
  EXPECT_EQ(log.console_line(r), "step 600/600 | loss 5.9569 | lr 2.599e-03 | norm 1.134 | 302.1 ms | 3390 tok/s");
  log.write(r);
  log.write({.step = 4, .loss = 1.0, .mfu = 0.5, .tokens = 4096});
  const std::string jsonl = read_all(dir_ / "metrics.jsonl");
  EXPECT_EQ(jsonl.find("mfu"), jsonl.rfind("mfu")) << "only the record with a peak has mfu: " << jsonl;
  EXPECT_NE(jsonl.find("\"mfu\":0.5"), std::string::npos) << jsonl;
  EXPECT_NE(jsonl.find("\"tokens\":51200"), std::string::npos) << jsonl;
  EXPECT_EQ(jsonl.find("eta"), std::string::npos) << "the ETA is for the console only: " << jsonl;
}

TEST_F(MetricsLogTest, LogFileGetsPlainLinesWithoutCarriageReturnsOrEscapes) {
  std::ostringstream console;
  MetricsLog log(console, dir_ / "metrics.jsonl", 10, std::nullopt, {.terminal = false});
  for (int step = 1; step <= 10; ++step) {
    log.progress(step, 100, 1000, 10.0 - step);
    if (step % 5 == 0) log.write({.step = step, .loss = 1.0, .eta_s = 10.0 - step});
  }
  log.say("checkpoint written");
  const std::string out = console.str();
  EXPECT_EQ(out.find('\r'), std::string::npos) << out;
  EXPECT_EQ(out.find('\033'), std::string::npos) << out;
  EXPECT_EQ(out, "step  5/10 | loss 1.0000 | ETA 5 s\nstep 10/10 | loss 1.0000\ncheckpoint written\n");
}

TEST_F(MetricsLogTest, TerminalRedrawsAStatusLineAndClearsItBeforeOtherOutput) {
  std::ostringstream console;
  MetricsLog log(console, dir_ / "metrics.jsonl", 10, std::nullopt, {.terminal = true});
  log.progress(1, 100, 1000, 9);
  log.progress(2, 100, 1000, 8);  // within a tenth of a second: not redrawn
  log.write({.step = 3, .loss = 1.0});
  EXPECT_EQ(console.str(),
            "\r\033[Kstep  1/10 | 100.0 ms | 1000 tok/s | ETA 9 s"
            "\r\033[Kstep  3/10 | loss 1.0000\n");
}

}  // namespace
}  // namespace gpt
