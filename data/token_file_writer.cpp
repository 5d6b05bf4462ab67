#include "data/token_file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>

#include "core/errors.h"
#include "core/file_kind.h"

namespace gpt {

static_assert(std::endian::native == std::endian::little, "token files are written as little-endian uint16");

namespace {
constexpr std::size_t kBufferTokens = 1 << 19;  // 1 MiB per write

void write_all(int fd, const void* data, std::size_t bytes, off_t offset, bool at_offset, int& error) {
  const auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = at_offset ? ::pwrite(fd, p, bytes, offset) : ::write(fd, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = errno;
      return;
    }
    p += n;
    bytes -= static_cast<std::size_t>(n);
    offset += n;
  }
}

const char* kind_of(std::filesystem::file_type type) {
  using std::filesystem::file_type;
  switch (type) {
    case file_type::directory:
      return "a folder";
    case file_type::character:
      return "a character device";
    case file_type::block:
      return "a block device";
    case file_type::fifo:
      return "a FIFO";
    case file_type::socket:
      return "a socket";
    default:
      return "not a regular file";
  }
}

// Temporary files of earlier writers of `path` that were killed before they could remove them
// (SIGKILL, a crash, a power cut): `NAME.tmp-PID` where no process PID is alive. A live
// process's file (another prepare writing the same output) is left alone.
void remove_stale_temporaries(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const fs::path folder = path.parent_path().empty() ? "." : path.parent_path();
  const std::string prefix = path.filename().string() + ".tmp-";
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::optional<long> pid = writer_pid(it->path().filename().string(), prefix);
    if (!pid || *pid <= 0 || *pid == ::getpid() || process_alive(*pid)) continue;
    std::error_code type_ec;
    if (it->symlink_status(type_ec).type() != fs::file_type::regular) continue;
    fs::remove(it->path(), type_ec);
  }
}
}  // namespace

std::filesystem::path TokenFileWriter::output_target(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  auto refuse = [&](const std::string& what) -> fs::path {
    throw DataError("token file " + path.string() + ": " + what +
                    "; it would be replaced, so a token file is written only to a regular file or a new name");
  };
  std::error_code ec;
  const fs::file_type type = fs::symlink_status(path, ec).type();
  if (type == fs::file_type::not_found || type == fs::file_type::regular) return path;
  if (ec) throw DataError("token file " + path.string() + ": cannot inspect it: " + ec.message());
  if (type == fs::file_type::directory) {
    throw DataError("token file " + path.string() + ": is a folder; name the token file itself, such as " +
                    (path / "train.bin").string());
  }
  if (type != fs::file_type::symlink) return refuse(std::string("is ") + kind_of(type));
  const fs::path link = fs::read_symlink(path, ec);
  const fs::file_type target = fs::status(path, ec).type();
  if (target == fs::file_type::not_found)
    return refuse("is a symbolic link to " + link.string() + ", which does not exist");
  if (target != fs::file_type::regular) {
    return refuse("is a symbolic link to " + link.string() + ", which is " + kind_of(target));
  }
  return fs::canonical(path);
}

TokenFileWriter::TokenFileWriter(std::filesystem::path path, TokenFileFormat format)
    : path_(output_target(path)), format_(format) {
  remove_stale_temporaries(path_);
  temporary_ = path_;
  temporary_ += ".tmp-" + std::to_string(::getpid());
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(std::string("cannot create ") + temporary_.string() + ": " + std::strerror(errno));
  buffer_.reserve(kBufferTokens);
  if (format_ == TokenFileFormat::llmc) {
    const std::array<std::int32_t, llmc_format::header_ints> placeholder{};  // filled in by commit()
    int error = 0;
    write_all(fd_, placeholder.data(), llmc_format::header_bytes, 0, false, error);
    if (error) fail(std::string("cannot write ") + temporary_.string() + ": " + std::strerror(error));
  }
}

TokenFileWriter::~TokenFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temporary_.c_str());
}

void TokenFileWriter::fail(const std::string& what) const {
  throw DataError("token file " + path_.string() + ": " + what);
}

void TokenFileWriter::append(std::span<const std::uint16_t> tokens) {
  count_ += tokens.size();
  while (!tokens.empty()) {
    const std::size_t take = std::min(tokens.size(), kBufferTokens - buffer_.size());
    buffer_.insert(buffer_.end(), tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(take));
    tokens = tokens.subspan(take);
    if (buffer_.size() == kBufferTokens) flush();
  }
}

void TokenFileWriter::flush() {
  int error = 0;
  write_all(fd_, buffer_.data(), buffer_.size() * sizeof(std::uint16_t), 0, false, error);
  if (error) fail(std::string("cannot write ") + temporary_.string() + ": " + std::strerror(error));
  buffer_.clear();
}

void TokenFileWriter::commit() {
  flush();
  if (format_ == TokenFileFormat::llmc) {
    if (count_ > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
      fail(std::to_string(count_) + " tokens do not fit llm.c's format, whose count is an int32: use --format raw");
    }
    const std::array<std::int32_t, 3> header{llmc_format::magic, llmc_format::version,
                                             static_cast<std::int32_t>(count_)};
    int error = 0;
    write_all(fd_, header.data(), sizeof header, 0, true, error);
    if (error) fail(std::string("cannot write ") + temporary_.string() + ": " + std::strerror(error));
  }
  if (::fsync(fd_) != 0) fail(std::string("cannot fsync ") + temporary_.string() + ": " + std::strerror(errno));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail(std::string("cannot close ") + temporary_.string() + ": " + std::strerror(errno));
  // Checked again: something other than a regular file may have taken the name since.
  if (output_target(path_) != path_) fail("became a symbolic link while it was written");
  if (::rename(temporary_.c_str(), path_.c_str()) != 0) {
    fail(std::string("cannot rename ") + temporary_.string() + " to it: " + std::strerror(errno));
  }
  committed_ = true;
  // The rename itself is on disk once the folder is.
  const std::filesystem::path folder = path_.parent_path().empty() ? "." : path_.parent_path();
  if (const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace gpt
