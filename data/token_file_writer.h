#pragma once
// Writes a token file that TokenFile reads: raw uint16, or llm.c's format with its header. The
// tokens go to a temporary file beside the output (an AtomicFile, core/files/atomic_file.h), which
// commit() renames into place once it is complete and on disk, so an interrupted or failed write
// never leaves a truncated token file; a writer destroyed before commit() removes its temporary
// file, and one for NAME removes the NAME.tmp-PID files of earlier runs that were killed (no live
// process PID).
//
// Renaming over a path replaces whatever is there, so the path must be a regular file or not
// exist; a symbolic link to a regular file is followed (the file it names is written, the link
// kept). Anything else (a folder, a device node, a FIFO, a socket, a dangling link or a link to
// one of those) is a DataError naming it, before anything is written.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "data/token_file.h"

namespace gpt {

class AtomicFile;

class TokenFileWriter {
 public:
  // Creates `path`'s temporary file (its folder must exist). Throws DataError naming the path.
  TokenFileWriter(std::filesystem::path path, TokenFileFormat format);
  // The file a writer for `path` writes: `path`, or the regular file a symbolic link names.
  // Throws DataError naming `path` when it is anything else (see above).
  static std::filesystem::path output_target(const std::filesystem::path& path);
  ~TokenFileWriter();
  TokenFileWriter(const TokenFileWriter&) = delete;
  TokenFileWriter& operator=(const TokenFileWriter&) = delete;

  void append(std::span<const std::uint16_t> tokens);
  // Fills in the header, flushes, fsyncs and renames the file to its name. An llm.c file holds
  // at most 2^31 - 1 tokens (its count is an int32): more is a DataError.
  void commit();

  std::uint64_t tokens_written() const { return count_; }
  const std::filesystem::path& path() const { return path_; }  // output_target() of the path given
  const std::filesystem::path& temporary_path() const;

 private:
  void flush();
  [[noreturn]] void fail(const std::string& what) const;

  std::filesystem::path path_;
  TokenFileFormat format_;
  std::unique_ptr<AtomicFile> file_;
  std::vector<std::uint16_t> buffer_;
  std::uint64_t count_ = 0;
};

}  // namespace gpt
