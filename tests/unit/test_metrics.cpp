// The metrics log: a resumed run keeps its records up to the step it resumed from (whatever else
// the file holds), and a full disk costs the file, never the run.
#include "train/metrics.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/temp_dir_test.h"

namespace gpt {
namespace {

class MetricsLogTest : public test::TempDirTest {};

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
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
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
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

}  // namespace
}  // namespace gpt
