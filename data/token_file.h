#pragma once
// A memory-mapped file of uint16 GPT-2 tokens, raw (headerless) or in llm.c's format
// (256 int32 header: magic 20240520, version 1, token count; then the tokens).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

namespace gpt {

enum class TokenFileFormat { raw, llmc };

// llm.c's header: 256 little-endian int32, of which the first three are used.
namespace llmc_format {
constexpr std::int32_t magic = 20240520;
constexpr std::int32_t version = 1;
constexpr std::size_t header_ints = 256;
constexpr std::size_t header_bytes = header_ints * sizeof(std::int32_t);
}  // namespace llmc_format

class TokenFile {
 public:
  // Maps `path` read-only and checks its size against its header, and that every token is below
  // `vocab_limit`. Throws DataError naming the file (and the offset of a bad token); a file under
  // 1024 bytes or not starting with the magic is raw. A path that is not a regular file (a FIFO,
  // directory or device) is a DataError too, raised without blocking on it. vocab_limit <= 0 is
  // std::invalid_argument.
  TokenFile(const std::filesystem::path& path, std::int64_t vocab_limit);
  ~TokenFile();
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;
  TokenFile(TokenFile&&) noexcept;
  TokenFile& operator=(TokenFile&&) noexcept;

  std::span<const std::uint16_t> tokens() const { return {tokens_, count_}; }
  std::size_t size() const { return count_; }
  TokenFileFormat format() const { return format_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  void* map_ = nullptr;
  std::size_t map_bytes_ = 0;
  const std::uint16_t* tokens_ = nullptr;
  std::size_t count_ = 0;
  TokenFileFormat format_ = TokenFileFormat::raw;
};

}  // namespace gpt
