// TokenFile: both on-disk formats, every size/header/token check, and the real sample file.
#include "data/token_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "tests/support/temp_dir_test.h"
#include "tests/support/test_data.h"

namespace gpt {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kVocab = 50257;

class TokenFileTest : public test::TempDirTest {
 protected:
  fs::path write_bytes(const std::string& name, const std::vector<char>& bytes) {
    const fs::path p = dir_ / name;
    std::ofstream f(p, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(f.good());
    return p;
  }
  fs::path write_raw(const std::string& name, const std::vector<std::uint16_t>& tokens) {
    std::vector<char> b(tokens.size() * 2);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      b[2 * i] = static_cast<char>(tokens[i] & 0xFF);
      b[2 * i + 1] = static_cast<char>(tokens[i] >> 8);
    }
    return write_bytes(name, b);
  }
  // llm.c layout; `header_count` / `version` may lie, to test the checks.
  fs::path write_llmc(const std::string& name, const std::vector<std::uint16_t>& tokens, std::int64_t header_count,
                      std::int32_t version = 1) {
    std::vector<char> b(1024 + tokens.size() * 2, 0);
    auto put32 = [&](std::size_t at, std::uint32_t v) {
      for (int k = 0; k < 4; ++k) b[at + static_cast<std::size_t>(k)] = static_cast<char>((v >> (8 * k)) & 0xFF);
    };
    put32(0, 20240520u);
    put32(4, static_cast<std::uint32_t>(version));
    put32(8, static_cast<std::uint32_t>(header_count));
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      b[1024 + 2 * i] = static_cast<char>(tokens[i] & 0xFF);
      b[1024 + 2 * i + 1] = static_cast<char>(tokens[i] >> 8);
    }
    return write_bytes(name, b);
  }

  static std::vector<std::uint16_t> sample_tokens(std::size_t n) {
    std::vector<std::uint16_t> t(n);
    for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<std::uint16_t>((i * 7919 + 13) % kVocab);
    return t;
  }

  // Runs `f`, expects a DataError, and returns its message.
  template <class F>
  static std::string data_error(F&& f) {
    try {
      std::forward<F>(f)();
    } catch (const DataError& e) {
      return e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "expected DataError, got another exception: " << e.what();
      return {};
    }
    ADD_FAILURE() << "expected DataError, nothing was thrown";
    return {};
  }
};

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST_F(TokenFileTest, RawReadsExactTokens) {
  const auto tokens = sample_tokens(3001);
  const auto p = write_raw("raw.bin", tokens);
  TokenFile f(p, kVocab);
  EXPECT_EQ(f.format(), TokenFileFormat::raw);
  EXPECT_EQ(f.path(), p);
  ASSERT_EQ(f.size(), tokens.size());
  const auto got = f.tokens();
  EXPECT_EQ(std::vector<std::uint16_t>(got.begin(), got.end()), tokens);
}

TEST_F(TokenFileTest, LlmcReadsExactTokens) {
  const auto tokens = sample_tokens(2500);
  const auto p = write_llmc("llmc.bin", tokens, static_cast<std::int64_t>(tokens.size()));
  TokenFile f(p, kVocab);
  EXPECT_EQ(f.format(), TokenFileFormat::llmc);
  ASSERT_EQ(f.size(), tokens.size());
  const auto got = f.tokens();
  EXPECT_EQ(std::vector<std::uint16_t>(got.begin(), got.end()), tokens);
}

TEST_F(TokenFileTest, SmallFileIsRawEvenIfItStartsWithMagic) {
  // Under 1024 bytes there is no room for a header, so the magic is just two (out-of-vocab) tokens.
  const std::vector<std::uint16_t> tokens = {0xD548, 0x0134, 1, 2};  // 20240520 little endian
  const auto p = write_raw("tiny.bin", tokens);
  TokenFile f(p, 65536);
  EXPECT_EQ(f.format(), TokenFileFormat::raw);
  EXPECT_EQ(f.size(), 4u);
}

TEST_F(TokenFileTest, LlmcHeaderCountTooLargeIsTruncated) {
  const auto tokens = sample_tokens(100);
  const auto p = write_llmc("trunc.bin", tokens, 150);
  const auto msg = data_error([&] { TokenFile f(p, kVocab); });
  EXPECT_TRUE(contains(msg, p.string())) << msg;
  EXPECT_TRUE(contains(msg, "truncated")) << msg;
  EXPECT_TRUE(contains(msg, std::to_string(1024 + 2 * 150))) << msg;  // expected size
  EXPECT_TRUE(contains(msg, std::to_string(1024 + 2 * 100))) << msg;  // actual size
}

TEST_F(TokenFileTest, LlmcHeaderCountTooSmallIsSizeMismatch) {
  const auto tokens = sample_tokens(100);
  const auto p = write_llmc("long.bin", tokens, 60);
  const auto msg = data_error([&] { TokenFile f(p, kVocab); });
  EXPECT_TRUE(contains(msg, p.string())) << msg;
  EXPECT_TRUE(contains(msg, "size mismatch")) << msg;
  EXPECT_TRUE(contains(msg, std::to_string(1024 + 2 * 60))) << msg;
  EXPECT_TRUE(contains(msg, std::to_string(1024 + 2 * 100))) << msg;
}

TEST_F(TokenFileTest, LlmcCutShortByOneByte) {
  // A correct header whose file was cut short by one byte: must not be accepted.
  auto tokens = sample_tokens(50);
  auto p = write_llmc("cut.bin", tokens, 50);
  fs::resize_file(p, fs::file_size(p) - 1);
  const auto msg = data_error([&] { TokenFile f(p, kVocab); });
  EXPECT_TRUE(contains(msg, p.string())) << msg;
  EXPECT_TRUE(contains(msg, "truncated")) << msg;
}

TEST_F(TokenFileTest, LlmcWrongVersion) {
  const auto tokens = sample_tokens(10);
  const auto p = write_llmc("v2.bin", tokens, 10, 2);
  const auto msg = data_error([&] { TokenFile f(p, kVocab); });
  EXPECT_TRUE(contains(msg, p.string())) << msg;
  EXPECT_TRUE(contains(msg, "version 2")) << msg;
}

TEST_F(TokenFileTest, LlmcZeroTokens) {
  const auto p = write_llmc("zero.bin", {}, 0);
  const auto msg = data_error([&] { TokenFile f(p, kVocab); });
  EXPECT_TRUE(contains(msg, p.string())) << msg;
}

TEST_F(TokenFileTest, RawOddSize) {
  const auto p = write_bytes("odd.bin", {1, 0, 2, 0, 3});
  const auto msg = data_error([&] { TokenFile f(p, kVocab); });
  EXPECT_TRUE(contains(msg, p.string())) << msg;
  EXPECT_TRUE(contains(msg, "odd")) << msg;
}

TEST_F(TokenFileTest, EmptyFile) {
  const auto p = write_bytes("empty.bin", {});
  const auto msg = data_error([&] { TokenFile f(p, kVocab); });
  EXPECT_TRUE(contains(msg, p.string())) << msg;
  EXPECT_TRUE(contains(msg, "empty")) << msg;
}

TEST_F(TokenFileTest, MissingFile) {
  const auto p = dir_ / "does_not_exist.bin";
  const auto msg = data_error([&] { TokenFile f(p, kVocab); });
  EXPECT_TRUE(contains(msg, p.string())) << msg;
  EXPECT_TRUE(contains(msg, "No such file")) << msg;  // strerror(ENOENT)
}

TEST_F(TokenFileTest, DirectoryIsNotATokenFile) {
  const auto msg = data_error([&] { TokenFile f(dir_, kVocab); });
  EXPECT_TRUE(contains(msg, dir_.string())) << msg;
}

TEST_F(TokenFileTest, DirectoryAndCharacterDeviceAreNotRegularFiles) {
  for (const fs::path& p : {dir_, fs::path("/dev/null")}) {
    const auto msg = data_error([&] { TokenFile f(p, kVocab); });
    EXPECT_TRUE(contains(msg, p.string())) << msg;
    EXPECT_TRUE(contains(msg, "not a regular file")) << msg;
  }
}

// Opening a FIFO for reading blocks until a writer comes, so a loader that just open()s it hangs.
// The load runs on another thread; should it block, the test fails and opens the write end to
// release it instead of hanging.
TEST_F(TokenFileTest, FifoIsRefusedWithoutBlocking) {
  const fs::path fifo = dir_ / "tokens.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  auto load = std::async(std::launch::async, [&] { return data_error([&] { TokenFile f(fifo, kVocab); }); });
  if (load.wait_for(std::chrono::seconds(5)) == std::future_status::timeout) {
    ADD_FAILURE() << "TokenFile blocked on the FIFO " << fifo;
    const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (writer >= 0) ::close(writer);
  }
  const std::string msg = load.get();
  EXPECT_TRUE(contains(msg, fifo.string())) << msg;
  EXPECT_TRUE(contains(msg, "not a regular file")) << msg;
}

TEST_F(TokenFileTest, RawTokenAtLimitReportsIndexOffsetValueAndLimit) {
  auto tokens = sample_tokens(200000);  // spans several scan blocks
  tokens[123457] = 50300;
  tokens[190000] = 60000;  // a later bad token must not be the one reported
  const auto p = write_raw("bad_raw.bin", tokens);
  const auto msg = data_error([&] { TokenFile f(p, kVocab); });
  EXPECT_TRUE(contains(msg, p.string())) << msg;
  EXPECT_TRUE(contains(msg, "token 50300 at index 123457 (byte offset 246914)")) << msg;
  EXPECT_TRUE(contains(msg, "50257")) << msg;
}

TEST_F(TokenFileTest, LlmcTokenAtLimitOffsetIncludesHeader) {
  auto tokens = sample_tokens(5000);
  tokens[1234] = static_cast<std::uint16_t>(kVocab);  // exactly the limit is already out of range
  const auto p = write_llmc("bad_llmc.bin", tokens, 5000);
  const auto msg = data_error([&] { TokenFile f(p, kVocab); });
  EXPECT_TRUE(contains(
      msg, "token 50257 at index 1234 (byte offset 3492) of " + p.string() + " is >= the vocabulary size 50257"))
      << msg;
}

TEST_F(TokenFileTest, LastTokenIsChecked) {
  std::vector<std::uint16_t> tokens(777, 99);
  tokens.back() = 100;
  const auto p = write_raw("last.bin", tokens);
  EXPECT_NO_THROW(TokenFile(p, 101));
  const auto msg = data_error([&] { TokenFile f(p, 100); });
  EXPECT_TRUE(contains(msg, "index 776")) << msg;
}

TEST_F(TokenFileTest, NonPositiveLimitIsInvalidArgument) {
  const auto p = write_raw("ok.bin", sample_tokens(10));
  EXPECT_THROW(TokenFile(p, 0), std::invalid_argument);
}

TEST_F(TokenFileTest, MoveTransfersMapping) {
  const auto tokens = sample_tokens(64);
  const auto p = write_raw("move.bin", tokens);
  TokenFile a(p, kVocab);
  const std::uint16_t* data = a.tokens().data();
  TokenFile b(std::move(a));
  EXPECT_EQ(b.tokens().data(), data);
  EXPECT_EQ(b.size(), 64u);
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from state is part of the contract

  const auto p2 = write_raw("move2.bin", sample_tokens(32));
  TokenFile c(p2, kVocab);
  c = std::move(b);  // c's own mapping must be released, b's taken over
  EXPECT_EQ(c.tokens().data(), data);
  EXPECT_EQ(c.path(), p);
  EXPECT_EQ(c.tokens()[63], tokens[63]);
}

TEST(TokenFileSample, ValidSampleIsLlmcWithExpectedTokens) {
  const fs::path p = gpt::test::tinystories_file("TinyStories-valid-sample.bin");
  TokenFile f(p, kVocab);  // also checks every token < 50257
  EXPECT_EQ(f.format(), TokenFileFormat::llmc);
  ASSERT_EQ(f.size(), 194230u);
  EXPECT_EQ(f.tokens()[0], 50256);
  std::uint16_t mx = 0;
  for (std::uint16_t t : f.tokens()) mx = std::max(mx, t);
  EXPECT_LT(mx, kVocab);
}

}  // namespace
}  // namespace gpt
