#include "train/checkpoint/checkpoint_seal.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "train/checkpoint/checkpoint_file.h"

#if GPT_HAVE_HDF5
#include "train/checkpoint/xxh64.h"
#endif

namespace gpt {
namespace fs = std::filesystem;

std::string checkpoint_identity(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char block[kUserBlock] = {};
  const ssize_t got = ::pread(fd, block, sizeof block, 0);
  ::close(fd);
  if (got <= 0) return "";
  const std::string_view head(block, static_cast<std::size_t>(got));
  const std::size_t end = head.find('\n');
  if (end == std::string_view::npos || !head.starts_with(std::string(kSealMagic) + " ")) return "";
  return std::string(head.substr(0, end));
}

#if GPT_HAVE_HDF5
namespace {

// The older format, from before the seal: an HDF5 file from its first byte, no user block.
bool predates_the_seal(const char* block, ssize_t got) {
  constexpr char kHdf5Signature[] = "\x89HDF\r\n\x1a\n";
  return got >= 8 && std::memcmp(block, kHdf5Signature, 8) == 0;
}

// XXH64 of the bytes of the open file `fd` (of `size` bytes) after the user block, as 16 hex
// digits. Mapped, not read: the file is usually still in the page cache.
std::string digest_after_user_block(int fd, std::size_t size, const fs::path& path) {
  Xxh64 h;
  if (size > kUserBlock) {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) throw std::runtime_error("cannot map " + path.string() + ": " + std::strerror(errno));
    ::madvise(map, size, MADV_SEQUENTIAL);
    h.update(static_cast<const unsigned char*>(map) + kUserBlock, size - kUserBlock);
    ::munmap(map, size);
  }
  return hex16(h.digest());
}

}  // namespace

std::string seal_problem(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::string("cannot open it: ") + std::strerror(errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::string("cannot stat it: ") + std::strerror(errno);
  const auto size = static_cast<std::size_t>(st.st_size);
  char block[kUserBlock] = {};
  const ssize_t got = ::pread(fd, block, sizeof block, 0);
  if (got < 0) return std::string("cannot read it: ") + std::strerror(errno);
  if (predates_the_seal(block, got)) return "";  // its checksum is checked later
  const std::string magic = kSealMagic;
  if (static_cast<std::size_t>(got) < magic.size() + 1 || std::memcmp(block, magic.data(), magic.size()) != 0 ||
      block[magic.size()] != ' ')
    return "not a checkpoint of this trainer (no seal, no HDF5 signature), or its first bytes are damaged";
  // The line, then NULs to the end of the block: every byte of it is accounted for.
  const char* end = static_cast<const char*>(std::memchr(block, '\n', sizeof block));
  if (static_cast<std::size_t>(got) < kUserBlock || !end ||
      std::any_of(end + 1, static_cast<const char*>(block) + sizeof block, [](char c) { return c != '\0'; }))
    return "its seal line is damaged";
  const std::string line(static_cast<const char*>(block),
                         end);  // parsed as a string: the block holds no NUL before `end`
  char digest[17] = {};
  unsigned long long sealed_size = 0;
  int parsed = 0;
  if (std::sscanf(line.c_str() + magic.size(), " %16[0-9a-f] %llu%n", digest, &sealed_size, &parsed) != 2 ||
      std::strlen(digest) != 16 || magic.size() + static_cast<std::size_t>(parsed) != line.size())
    return "its seal line is damaged";
  if (sealed_size != size)
    return "truncated or extended: " + std::to_string(size) + " bytes, sealed at " + std::to_string(sealed_size);
  std::string computed;
  try {
    computed = digest_after_user_block(fd, size, path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  if (computed != digest) return std::string("damaged: its bytes give digest ") + computed + ", sealed as " + digest;
  return "";
}

void seal_file(const fs::path& tmp) {
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + tmp.string() + " to seal it: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(kUserBlock))
    throw std::runtime_error("cannot seal " + tmp.string() + ": it is shorter than its user block");
  const std::string digest = digest_after_user_block(fd, static_cast<std::size_t>(st.st_size), tmp);
  std::string block = std::string(kSealMagic) + " " + digest + " " + std::to_string(st.st_size) + "\n";
  block.resize(kUserBlock, '\0');
  if (::pwrite(fd, block.data(), block.size(), 0) != static_cast<ssize_t>(block.size()))
    throw std::runtime_error("cannot seal " + tmp.string() + ": " + std::strerror(errno));
}

#endif  // GPT_HAVE_HDF5

}  // namespace gpt
