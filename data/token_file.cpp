#include "data/token_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/errors.h"
#include "core/file_kind.h"

namespace gpt {

// Both formats are little endian on disk; the tokens are used in place, so the host must be too.
static_assert(std::endian::native == std::endian::little, "token files are read in place as little-endian uint16");

namespace {

constexpr std::int32_t kLlmcMagic = llmc_format::magic;
constexpr std::int32_t kLlmcVersion = llmc_format::version;
constexpr std::size_t kLlmcHeaderInts = llmc_format::header_ints;
constexpr std::size_t kLlmcHeaderBytes = llmc_format::header_bytes;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw DataError("token file " + path.string() + ": " + what);
}

// Closes the descriptor on every path out of the constructor; the mapping outlives it.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// Index of the first token >= limit, or n if none. Scans in blocks with a branch-free max so the
// common (clean) case vectorises; only a block holding a bad token is rescanned element by element.
std::size_t first_token_at_or_above(const std::uint16_t* t, std::size_t n, std::int64_t limit) {
  if (limit > 0xFFFF) return n;  // every uint16 fits
  const auto lim = static_cast<std::uint16_t>(limit);
  constexpr std::size_t kBlock = 1 << 16;
  for (std::size_t begin = 0; begin < n; begin += kBlock) {
    const std::size_t end = std::min(n, begin + kBlock);
    std::uint16_t mx = 0;
    for (std::size_t i = begin; i < end; ++i) mx = std::max(mx, t[i]);
    if (mx < lim) continue;
    for (std::size_t i = begin; i < end; ++i)
      if (t[i] >= lim) return i;
  }
  return n;
}

}  // namespace

TokenFile::TokenFile(const std::filesystem::path& path, std::int64_t vocab_limit) : path_(path) {
  if (vocab_limit <= 0) throw std::invalid_argument("TokenFile: vocab_limit must be positive");

  // Refused before open(): opening a FIFO for reading blocks until a writer appears, forever if
  // none does.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "is not a regular file" + special_file_kind(st.st_mode));

  // O_NONBLOCK in case the path became a FIFO since the stat; on a regular file it changes nothing.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  FdCloser closer{fd};

  if (::fstat(fd, &st) != 0) fail(path, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "is not a regular file" + special_file_kind(st.st_mode));
  const auto bytes = static_cast<std::size_t>(st.st_size);
  if (bytes == 0) fail(path, "is empty (no tokens)");

  // mmap of the whole file: pages come in on demand, so even multi-GB files are never read whole.
  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) fail(path, std::string("cannot mmap: ") + std::strerror(errno));
  map_ = map;
  map_bytes_ = bytes;

  // From here on the destructor will not run if we throw, so unmap by hand on failure.
  try {
    const auto* base = static_cast<const unsigned char*>(map_);
    std::int32_t head[3] = {0, 0, 0};
    if (bytes >= kLlmcHeaderBytes) std::memcpy(head, base, sizeof(head));

    std::size_t header_bytes = 0;
    // A raw GPT-2 file cannot start with the magic: its low uint16 (54600) is outside the vocabulary.
    if (bytes >= kLlmcHeaderBytes && head[0] == kLlmcMagic) {
      format_ = TokenFileFormat::llmc;
      header_bytes = kLlmcHeaderBytes;
      if (head[1] != kLlmcVersion)
        fail(path,
             "llm.c header has version " + std::to_string(head[1]) + ", expected " + std::to_string(kLlmcVersion));
      if (head[2] < 0) fail(path, "llm.c header has a negative token count " + std::to_string(head[2]));
      const auto count = static_cast<std::size_t>(head[2]);
      const std::size_t expected = kLlmcHeaderBytes + 2 * count;
      if (bytes != expected)
        fail(path, std::string(bytes < expected ? "truncated" : "size mismatch") + ": header says " +
                       std::to_string(count) + " tokens, so the file should be " + std::to_string(expected) +
                       " bytes, but it is " + std::to_string(bytes) + " bytes");
      count_ = count;
    } else {
      format_ = TokenFileFormat::raw;
      if (bytes % 2 != 0)
        fail(path, "raw token file has an odd size of " + std::to_string(bytes) + " bytes (tokens are uint16)");
      count_ = bytes / 2;
    }
    if (count_ == 0) fail(path, "holds no tokens");
    tokens_ = reinterpret_cast<const std::uint16_t*>(base + header_bytes);

    // One sequential pass to validate; afterwards sampling reads windows at random, so reset the hint.
    ::madvise(map_, map_bytes_, MADV_SEQUENTIAL);
    const std::size_t bad = first_token_at_or_above(tokens_, count_, vocab_limit);
    ::madvise(map_, map_bytes_, MADV_NORMAL);
    if (bad != count_)
      throw DataError("token " + std::to_string(tokens_[bad]) + " at index " + std::to_string(bad) + " (byte offset " +
                      std::to_string(header_bytes + 2 * bad) + ") of " + path.string() + " is >= the vocabulary size " +
                      std::to_string(vocab_limit));
  } catch (...) {
    ::munmap(map_, map_bytes_);
    throw;
  }
}

TokenFile::~TokenFile() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

TokenFile::TokenFile(TokenFile&& o) noexcept
    : path_(std::move(o.path_)),
      map_(std::exchange(o.map_, nullptr)),
      map_bytes_(std::exchange(o.map_bytes_, 0)),
      tokens_(std::exchange(o.tokens_, nullptr)),
      count_(std::exchange(o.count_, 0)),
      format_(o.format_) {}

TokenFile& TokenFile::operator=(TokenFile&& o) noexcept {
  if (this != &o) {
    if (map_ != nullptr) ::munmap(map_, map_bytes_);
    path_ = std::move(o.path_);
    map_ = std::exchange(o.map_, nullptr);
    map_bytes_ = std::exchange(o.map_bytes_, 0);
    tokens_ = std::exchange(o.tokens_, nullptr);
    count_ = std::exchange(o.count_, 0);
    format_ = o.format_;
  }
  return *this;
}

}  // namespace gpt
