#pragma once
// Writes a token file that TokenFile reads: raw uint16, or llm.c's format with its header. The
// tokens go to a temporary file beside the output, which commit() renames into place once it is
// complete and on disk, so an interrupted or failed write never leaves a truncated token file;
// a writer destroyed before commit() removes its temporary file.
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "data/token_file.h"

namespace gpt {

class TokenFileWriter {
 public:
  // Creates `path`'s temporary file (its folder must exist). Throws DataError naming the path.
  TokenFileWriter(std::filesystem::path path, TokenFileFormat format);
  ~TokenFileWriter();
  TokenFileWriter(const TokenFileWriter&) = delete;
  TokenFileWriter& operator=(const TokenFileWriter&) = delete;

  void append(std::span<const std::uint16_t> tokens);
  // Fills in the header, flushes, fsyncs and renames the file to its name. An llm.c file holds
  // at most 2^31 - 1 tokens (its count is an int32): more is a DataError.
  void commit();

  std::uint64_t tokens_written() const { return count_; }
  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& temporary_path() const { return temporary_; }

 private:
  void flush();
  [[noreturn]] void fail(const std::string& what) const;

  std::filesystem::path path_, temporary_;
  TokenFileFormat format_;
  int fd_ = -1;
  std::vector<std::uint16_t> buffer_;
  std::uint64_t count_ = 0;
  bool committed_ = false;
};

}  // namespace gpt
