// TensorBoard event files at the byte level: the CRC-32C TFRecord needs, the framing, and the
// cut a resumed run makes. (TensorBoard itself reads real runs' files in
// tests/python/check_tensorboard.py.)
#include "train/observe/tensorboard.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/support/temp_dir_test.h"
#include "train/observe/crc32c.h"

namespace gpt {
namespace {

class TensorBoardTest : public test::TempDirTest {
 protected:
  std::vector<std::filesystem::path> event_files() const {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
  }
};

TEST(Crc32c, CheckValues) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // the catalogue's check value for CRC-32C
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);    // RFC 3720, B.4: 32 bytes of zeros
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);  // and of ones
}

TEST(TfRecord, FramesLengthPayloadAndMaskedChecksums) {
  const std::string r = tfrecord("abc");
  ASSERT_EQ(r.size(), 8u + 4 + 3 + 4);
  EXPECT_EQ(r.substr(0, 8), std::string("\x03\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(r.substr(12, 3), "abc");
  const std::uint32_t c = crc32c("abc");
  const std::uint32_t masked = ((c >> 15) | (c << 17)) + 0xa282ead8u;
  std::uint32_t stored = 0;
  std::memcpy(&stored, r.data() + 15, 4);
  EXPECT_EQ(stored, masked);
}

TEST_F(TensorBoardTest, WritesAVersionEventThenOneEventPerCall) {
  std::filesystem::path file;
  {
    TensorBoardWriter tb(dir_);
    file = tb.file();
    EXPECT_TRUE(tb.scalars(1, {{"loss", 9.5}, {"lr", 1e-3}}));
    EXPECT_TRUE(tb.text(1, "config", "    a = 1"));
    EXPECT_TRUE(tb.scalars(2, {{"loss", 9.0}}));
  }
  EXPECT_NE(file.filename().string().find("events.out.tfevents."), std::string::npos);
  EXPECT_EQ(event_steps(file), (std::vector<std::int64_t>{0, 1, 1, 2}));
}

TEST_F(TensorBoardTest, ResumeCutsEveryFileAfterTheStepAndTheTornTail) {
  std::filesystem::path first;
  {
    TensorBoardWriter tb(dir_);
    first = tb.file();
    for (int step = 1; step <= 10; ++step) tb.scalars(step, {{"loss", 10.0 - step}});
  }
  std::ofstream(first, std::ios::app | std::ios::binary) << std::string("\x40\0\0\0\0\0\0\0garbage", 15);
  TensorBoardWriter resumed(dir_, 6);
  resumed.scalars(7, {{"loss", 3.0}});
  EXPECT_EQ(event_steps(first), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6}));
  std::ifstream in(first, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.find("garbage"), std::string::npos) << "the torn tail was kept";
  // Version, the session start at 7 (TensorBoard drops what it read from 7 on), then step 7.
  EXPECT_EQ(event_steps(resumed.file()), (std::vector<std::int64_t>{0, 7, 7}));
  const auto files = event_files();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files.back(), resumed.file()) << "the new file must sort last";
  for (const auto& entry : std::filesystem::directory_iterator(first.parent_path()))  // NAME.tmp-PID
    EXPECT_EQ(entry.path().filename().string().find(first.filename().string() + ".tmp"), std::string::npos)
        << "a temporary was left behind: " << entry.path();
}

}  // namespace
}  // namespace gpt
