// One train per run.dir: a second lock on the folder is refused naming the holder, and the lock
// is free again once its holder is gone.
#include "train/run_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <string>

#include "core/errors.h"
#include "tests/support/temp_dir_test.h"

namespace gpt {
namespace {

class RunDirLockTest : public test::TempDirTest {};

TEST_F(RunDirLockTest, SecondHolderIsRefusedNamingTheFirst) {
  const auto run = dir_ / "run";
  std::optional<RunDirLock> first(std::in_place, run);  // creates the folder
  ASSERT_TRUE(first->held()) << first->problem();
  std::string holder;
  std::getline(std::ifstream(run / "train.lock"), holder);
  EXPECT_NE(holder.find("pid " + std::to_string(::getpid()) + " on "), std::string::npos) << holder;
  try {
    RunDirLock second(run);  // another open file description: flock conflicts within a process too
    FAIL() << "two locks on one run.dir";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("is in use by another train (" + holder + ")"), std::string::npos) << what;
  }
  first.reset();
  EXPECT_TRUE(RunDirLock(run).held());
}

TEST_F(RunDirLockTest, UnusableFolderIsAConfigError) {
  std::ofstream(dir_ / "file") << "x";
  EXPECT_THROW(RunDirLock(dir_ / "file" / "run"), ConfigError);
}

}  // namespace
}  // namespace gpt
