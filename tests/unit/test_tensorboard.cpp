// TensorBoard event files at the byte level: the CRC-32C TFRecord needs, the framing, and the
// events a writer opens its file with. (TensorBoard itself reads real runs' files, a resumed
// one included, in tests/python/check_tensorboard.py.)
#include "train/observe/tensorboard.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/support/read_file.h"
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

// The payloads of a file's records, each checked against the framing tfrecord() writes.
std::vector<std::string> payloads(const std::filesystem::path& file) {
  const std::string bytes = test::read_file(file);
  std::vector<std::string> out;
  for (std::size_t at = 0; at < bytes.size();) {
    std::uint64_t length = 0;
    if (bytes.size() - at < 16) {
      ADD_FAILURE() << "a torn record at byte " << at;
      break;
    }
    std::memcpy(&length, bytes.data() + at, 8);
    const std::string payload = bytes.substr(at + 12, length);
    EXPECT_EQ(bytes.substr(at, 16 + length), tfrecord(payload)) << "the record at byte " << at;
    out.push_back(payload);
    at += 16 + length;
  }
  return out;
}

// An Event's step and its next field's number. The writer puts wall_time (field 1, 8 bytes) first
// and the step (field 2, a varint) second.
struct EventHead {
  std::int64_t step = 0;
  int next_field = 0;
  std::string rest;  // the bytes after the step
};
EventHead head_of(const std::string& payload) {
  EventHead h;
  EXPECT_GE(payload.size(), 11u);
  EXPECT_EQ(payload[0], '\x09') << "wall_time (field 1, fixed64) first";
  EXPECT_EQ(payload[9], '\x10') << "step (field 2, varint) second";
  std::size_t i = 10;
  for (int shift = 0; i < payload.size(); shift += 7) {
    const auto b = static_cast<std::uint8_t>(payload[i++]);
    h.step |= static_cast<std::int64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) break;
  }
  h.rest = payload.substr(i);
  if (!h.rest.empty()) h.next_field = static_cast<std::uint8_t>(h.rest[0]) >> 3;
  return h;
}

std::vector<std::int64_t> steps_of(const std::filesystem::path& file) {
  std::vector<std::int64_t> steps;
  for (const std::string& p : payloads(file)) steps.push_back(head_of(p).step);
  return steps;
}

// Event.session_log (field 7) = SessionLog{status (field 1) = START (1)}.
const std::string kSessionStart("\x3a\x02\x08\x01", 4);

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

TEST_F(TensorBoardTest, WritesAVersionEventASessionStartThenOneEventPerCall) {
  std::filesystem::path file;
  {
    TensorBoardWriter tb(dir_);
    file = tb.file();
    EXPECT_TRUE(tb.scalars(1, {{"loss", 9.5}, {"lr", 1e-3}}));
    EXPECT_TRUE(tb.text(1, "config", "    a = 1"));
    EXPECT_TRUE(tb.scalars(2, {{"loss", 9.0}}));
  }
  EXPECT_NE(file.filename().string().find("events.out.tfevents."), std::string::npos);
  EXPECT_EQ(steps_of(file), (std::vector<std::int64_t>{0, 0, 1, 1, 2}));
  const std::vector<std::string> events = payloads(file);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(head_of(events[0]).rest, std::string("\x1a\x0d") + "brain.Event:2");
  EXPECT_EQ(head_of(events[1]).rest, kSessionStart);
  for (std::size_t i = 2; i < events.size(); ++i) EXPECT_EQ(head_of(events[i]).next_field, 5) << "a summary";
}

// A resumed run leaves the killed run's file as it is: its own file's session start at the step
// after the checkpoint is what makes TensorBoard drop the killed run's later steps.
TEST_F(TensorBoardTest, AResumedRunStartsItsOwnFileAtTheNextStepAndLeavesTheOldOne) {
  std::filesystem::path first;
  {
    TensorBoardWriter tb(dir_);
    first = tb.file();
    for (int step = 1; step <= 10; ++step) tb.scalars(step, {{"loss", 10.0 - step}});
  }
  const std::string killed = test::read_file(first);
  TensorBoardWriter resumed(dir_, 6);
  resumed.scalars(7, {{"loss", 3.0}});
  EXPECT_EQ(test::read_file(first), killed);
  EXPECT_EQ(steps_of(resumed.file()), (std::vector<std::int64_t>{0, 7, 7}));
  EXPECT_EQ(head_of(payloads(resumed.file())[1]).rest, kSessionStart);
  const auto files = event_files();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files.back(), resumed.file()) << "the new file must sort last";
}

}  // namespace
}  // namespace gpt
