// The atomic file writer: the target is replaced whole or not at all, the file and then its folder
// are fsync'd before the writer reports success, the temporary follows NAME.tmp-PID (what the
// stale-temporary cleanups know) and is never left behind, and a path that cannot be written gives
// an error naming it.
#include "core/files/atomic_file.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/file_kind.h"
#include "tests/support/read_file.h"
#include "tests/support/temp_dir_test.h"

// fsync, seen by this test binary first: every call is recorded (whether it was on a folder) and,
// when a test arms it, fails with an errno of its choosing. Unarmed it only passes the call on.
namespace {
struct FsyncSpy {
  bool recording = false;
  std::vector<bool> on_folder;  // one entry per fsync while recording
  int fail_files_with = 0, fail_folders_with = 0;
};
FsyncSpy g_fsync;
}  // namespace

extern "C" int fsync(int fd) {
  static const auto real = reinterpret_cast<int (*)(int)>(::dlsym(RTLD_NEXT, "fsync"));
  struct stat info {};
  const bool folder = ::fstat(fd, &info) == 0 && S_ISDIR(info.st_mode);
  if (g_fsync.recording) g_fsync.on_folder.push_back(folder);
  if (const int error = folder ? g_fsync.fail_folders_with : g_fsync.fail_files_with; error != 0) {
    errno = error;
    return -1;
  }
  return real(fd);
}

namespace gpt {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public test::TempDirTest {
 protected:
  void TearDown() override {
    g_fsync = {};
    TempDirTest::TearDown();
  }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  static std::string read(const fs::path& p) { return test::read_file(p); }
};

TEST_F(AtomicFileTest, WritesTheWholeFileAndLeavesNoTemporary) {
  write_file_atomically(dir_ / "out.txt", "first\n");
  EXPECT_EQ(read(dir_ / "out.txt"), "first\n");
  write_file_atomically(dir_ / "out.txt", "second, longer\n");
  EXPECT_EQ(read(dir_ / "out.txt"), "second, longer\n");
  EXPECT_EQ(entries(), std::vector<std::string>{"out.txt"});
}

TEST_F(AtomicFileTest, TheTemporaryIsNameTmpPidBesideTheTarget) {
  AtomicFile file(dir_ / "train.bin");
  EXPECT_EQ(file.temporary_path(), dir_ / ("train.bin.tmp-" + std::to_string(::getpid())));
  EXPECT_EQ(writer_pid(file.temporary_path().filename().string(), "train.bin.tmp-"), ::getpid());
  EXPECT_TRUE(fs::is_regular_file(file.temporary_path()));
  EXPECT_FALSE(fs::exists(dir_ / "train.bin")) << "the target appears only at commit()";
}

TEST_F(AtomicFileTest, AWriterThatThrowsMidwayLeavesTheOldContentsAndNoTemporary) {
  write_file_atomically(dir_ / "out.txt", "old contents\n");
  try {
    AtomicFile file(dir_ / "out.txt");
    file.write("half of the new ");
    throw std::runtime_error("the producer failed");
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "the producer failed");
  }
  EXPECT_EQ(read(dir_ / "out.txt"), "old contents\n");
  EXPECT_EQ(entries(), std::vector<std::string>{"out.txt"});
}

TEST_F(AtomicFileTest, CommitFsyncsTheFileBeforeTheFolder) {
  g_fsync.recording = true;
  write_file_atomically(dir_ / "out.txt", "data");
  EXPECT_EQ(g_fsync.on_folder, (std::vector<bool>{false, true}));
}

TEST_F(AtomicFileTest, AFailedFsyncLeavesTheOldFileAndNamesTheTemporary) {
  write_file_atomically(dir_ / "out.txt", "old");
  g_fsync.fail_files_with = EIO;
  AtomicFile file(dir_ / "out.txt");
  file.write("new");
  const std::string temporary = file.temporary_path().string();
  try {
    file.commit();
    FAIL() << "a failed fsync was not reported";
  } catch (const NotDurableError& e) {
    FAIL() << "reported as renamed: " << e.what();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot fsync " + temporary + ": Input/output error");
  }
  g_fsync.fail_files_with = 0;
  EXPECT_EQ(read(dir_ / "out.txt"), "old");
}

TEST_F(AtomicFileTest, AFailedFolderFsyncReportsAFileInPlaceButNotDurable) {
  g_fsync.fail_folders_with = EIO;
  AtomicFile file(dir_ / "out.txt");
  file.write("new");
  EXPECT_THROW(file.commit(), NotDurableError);
  g_fsync.fail_folders_with = 0;
  EXPECT_EQ(read(dir_ / "out.txt"), "new");
  EXPECT_EQ(entries(), std::vector<std::string>{"out.txt"});
}

TEST_F(AtomicFileTest, AFolderThatCannotBeWrittenGivesAnErrorNamingThePath) {
  // Root may write anywhere the permission bits forbid; no one may create files in sysfs.
  fs::path folder = dir_ / "read_only";
  fs::create_directory(folder);
  fs::permissions(folder, fs::perms::owner_read | fs::perms::owner_exec);
  if (::geteuid() == 0) folder = "/sys";
  const fs::path target = folder / "gpt_atomic_file_test.txt";
  try {
    write_file_atomically(target, "data");
    FAIL() << "wrote into " << folder;
  } catch (const std::runtime_error& e) {
    const std::string temporary = AtomicFile::temporary_for(target).string();
    EXPECT_EQ(std::string(e.what()), "cannot create " + temporary + ": Permission denied");
  }
  EXPECT_FALSE(fs::exists(target));
  fs::permissions(dir_ / "read_only", fs::perms::owner_all);
}

TEST_F(AtomicFileTest, AMissingFolderGivesAnErrorNamingThePath) {
  const fs::path target = dir_ / "no_such_folder" / "out.txt";
  try {
    write_file_atomically(target, "data");
    FAIL() << "wrote into a folder that does not exist";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot create " + AtomicFile::temporary_for(target).string() + ": No such file or directory");
  }
}

TEST_F(AtomicFileTest, AFifoOrAFolderAtTheTargetIsRefusedAndLeftAlone) {
  const fs::path fifo = dir_ / "tokens.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  try {
    write_file_atomically(fifo, "data");
    FAIL() << "replaced a FIFO";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot replace " + fifo.string() + ": it is not a regular file (a FIFO)");
  }
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(fifo)));
  fs::create_directory(dir_ / "folder");
  EXPECT_THROW(write_file_atomically(dir_ / "folder", "data"), std::runtime_error);
  EXPECT_TRUE(fs::is_directory(dir_ / "folder"));
  EXPECT_EQ(entries(), (std::vector<std::string>{"folder", "tokens.fifo"}));
}

TEST_F(AtomicFileTest, ALinkAtTheTargetIsReplacedAndWhatItNamesIsLeftAlone) {
  write_file_atomically(dir_ / "users_file.txt", "the user's");
  fs::create_symlink(dir_ / "users_file.txt", dir_ / "out.txt");
  write_file_atomically(dir_ / "out.txt", "ours");
  EXPECT_FALSE(fs::is_symlink(dir_ / "out.txt"));
  EXPECT_EQ(read(dir_ / "out.txt"), "ours");
  EXPECT_EQ(read(dir_ / "users_file.txt"), "the user's");
}

TEST_F(AtomicFileTest, ADeadWritersTemporaryIsRemovedALiveOnesKept) {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  const std::string dead = "out.bin.tmp-" + std::to_string(child);
  const std::string live = "out.bin.tmp-" + std::to_string(::getppid());  // the test's parent lives
  std::ofstream(dir_ / dead) << "torn";
  std::ofstream(dir_ / live) << "being written";
  write_file_atomically(dir_ / "out.bin", "data");
  EXPECT_EQ(entries(), (std::vector<std::string>{"out.bin", live}));
}

TEST_F(AtomicFileTest, WriteAtFillsInAHeaderWithoutMovingTheEnd) {
  AtomicFile file(dir_ / "out.bin");
  file.write("....body");
  file.write_at("HEAD", 4, 0);
  file.write("+tail");
  file.commit();
  EXPECT_EQ(read(dir_ / "out.bin"), "HEADbody+tail");
}

TEST_F(AtomicFileTest, ACallerCreatedTemporaryIsFsyncedRenamedOrRemoved) {
  const fs::path temporary = dir_ / "step.h5.tmp.1";
  {
    AtomicFile file(dir_ / "step.h5", temporary, AtomicFile::Creation::by_caller);
    EXPECT_FALSE(fs::exists(temporary)) << "the caller creates it";
    std::ofstream(temporary) << "abandoned";
  }
  EXPECT_TRUE(entries().empty()) << "an uncommitted temporary was left behind";
  g_fsync.recording = true;
  AtomicFile file(dir_ / "step.h5", temporary, AtomicFile::Creation::by_caller);
  std::ofstream(temporary) << "complete";
  file.commit();
  EXPECT_EQ(g_fsync.on_folder, (std::vector<bool>{false, true}));
  EXPECT_EQ(read(dir_ / "step.h5"), "complete");
  EXPECT_EQ(entries(), std::vector<std::string>{"step.h5"});
}

TEST_F(AtomicFileTest, CopyWritesTheSourcesBytes) {
  const std::string bytes("binary\0bytes\n", 13);
  std::ofstream(dir_ / "from.bin", std::ios::binary) << bytes;
  copy_file_atomically(dir_ / "from.bin", dir_ / "to.bin");
  EXPECT_EQ(read(dir_ / "to.bin"), bytes);
  EXPECT_THROW(copy_file_atomically(dir_ / "missing.bin", dir_ / "to.bin"), std::runtime_error);
  EXPECT_EQ(read(dir_ / "to.bin"), bytes);
}

}  // namespace
}  // namespace gpt
