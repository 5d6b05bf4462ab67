#include "core/files/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace gpt {
namespace {

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path, int error) {
  throw std::runtime_error("cannot " + what + " " + path.string() + ": " + std::strerror(error));
}

}  // namespace

DurableFile::DurableFile(std::filesystem::path path) : path_(std::move(path)) {
  temporary_ = path_;
  temporary_ += ".tmp";
  if (::unlink(temporary_.c_str()) != 0 && errno != ENOENT) fail("remove the stale", temporary_, errno);
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("create", temporary_, errno);
}

DurableFile::~DurableFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temporary_.c_str());
}

void DurableFile::write(const void* data, std::size_t bytes) {
  const auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd_, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write", temporary_, errno);
    }
    p += n;
    bytes -= static_cast<std::size_t>(n);
  }
}

void DurableFile::commit() {
  if (::fsync(fd_) != 0) fail("fsync", temporary_, errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close", temporary_, errno);  // NFS reports a full disk here
  if (::rename(temporary_.c_str(), path_.c_str()) != 0)
    throw std::runtime_error("cannot rename " + temporary_.string() + " to " + path_.string() + ": " +
                             std::strerror(errno));
  committed_ = true;
}

void write_file_durably(const std::filesystem::path& path, std::string_view contents) {
  DurableFile file(path);
  file.write(contents);
  file.commit();
}

void copy_file_durably(const std::filesystem::path& from, const std::filesystem::path& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) fail("open", from, errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{in};
  DurableFile out(to);
  std::vector<char> buffer(1 << 16);
  for (;;) {
    const ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("read", from, errno);
    }
    if (n == 0) break;
    out.write(buffer.data(), static_cast<std::size_t>(n));
  }
  out.commit();
}

void fsync_folder(const std::filesystem::path& folder) {
  const std::filesystem::path name = folder.empty() ? "." : folder;
  const int fd = ::open(name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("open the folder", name, errno);
  const int rc = ::fsync(fd), error = errno;
  ::close(fd);
  if (rc != 0) fail("fsync the folder", name, error);
}

}  // namespace gpt
