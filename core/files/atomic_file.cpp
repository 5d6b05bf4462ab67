#include "core/files/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "core/file_kind.h"

namespace gpt {
namespace {

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path, int error) {
  throw std::runtime_error("cannot " + what + " " + path.string() + ": " + std::strerror(error));
}

std::filesystem::path folder_of(const std::filesystem::path& path) {
  return path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
}

// NAME.tmp-PID files beside `path` whose writer is no longer alive (SIGKILL, a crash, a power
// cut). A live process's temporary (another writer of the same path) is left alone.
void remove_stale_temporaries(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const std::string prefix = path.filename().string() + ".tmp-";
  std::error_code ec;
  for (fs::directory_iterator it(folder_of(path), ec), end; !ec && it != end; it.increment(ec)) {
    const std::optional<long> pid = writer_pid(it->path().filename().string(), prefix);
    if (!pid || *pid <= 0 || *pid == ::getpid() || process_alive(*pid)) continue;
    std::error_code type_ec;
    if (it->symlink_status(type_ec).type() != fs::file_type::regular) continue;
    fs::remove(it->path(), type_ec);
  }
}

void write_all(int fd, const char* p, std::size_t bytes, std::optional<off_t> offset,
               const std::filesystem::path& path) {
  while (bytes > 0) {
    const ssize_t n = offset ? ::pwrite(fd, p, bytes, *offset) : ::write(fd, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write", path, errno);
    }
    p += n;
    bytes -= static_cast<std::size_t>(n);
    if (offset) *offset += n;
  }
}

}  // namespace

std::filesystem::path AtomicFile::temporary_for(const std::filesystem::path& path) {
  std::filesystem::path temporary = path;
  temporary += ".tmp-" + std::to_string(::getpid());
  return temporary;
}

AtomicFile::AtomicFile(std::filesystem::path path, Creation creation)
    : path_(std::move(path)), temporary_(temporary_for(path_)) {
  struct stat info {};
  if (::lstat(path_.c_str(), &info) == 0 && !S_ISREG(info.st_mode) && !S_ISLNK(info.st_mode))
    throw std::runtime_error("cannot replace " + path_.string() + ": it is not a regular file" +
                             special_file_kind(info.st_mode));
  remove_stale_temporaries(path_);
  start(creation);
}

AtomicFile::AtomicFile(std::filesystem::path path, std::filesystem::path temporary, Creation creation)
    : path_(std::move(path)), temporary_(std::move(temporary)) {
  start(creation);
}

void AtomicFile::start(Creation creation) {
  // A leftover of an earlier process that had our pid.
  if (::unlink(temporary_.c_str()) != 0 && errno != ENOENT) fail("remove the stale", temporary_, errno);
  if (creation == Creation::by_caller) return;
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("create", temporary_, errno);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temporary_.c_str());
}

void AtomicFile::write(const void* data, std::size_t bytes) {
  write_all(fd_, static_cast<const char*>(data), bytes, std::nullopt, temporary_);
}

void AtomicFile::write_at(const void* data, std::size_t bytes, off_t offset) {
  write_all(fd_, static_cast<const char*>(data), bytes, offset, temporary_);
}

void AtomicFile::commit() {
  if (fd_ < 0) {  // created by the caller, closed by now: opened again to fsync what it wrote
    fd_ = ::open(temporary_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail("open", temporary_, errno);
  }
  if (::fsync(fd_) != 0) fail("fsync", temporary_, errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close", temporary_, errno);  // NFS reports a full disk here
  if (::rename(temporary_.c_str(), path_.c_str()) != 0)
    throw std::runtime_error("cannot rename " + temporary_.string() + " to " + path_.string() + ": " +
                             std::strerror(errno));
  committed_ = true;
  try {
    fsync_folder(folder_of(path_));
  } catch (const std::runtime_error& e) {
    throw NotDurableError(path_.string() + " is replaced, but " + e.what());
  }
}

void write_file_atomically(const std::filesystem::path& path, std::string_view contents) {
  AtomicFile file(path);
  file.write(contents);
  file.commit();
}

void copy_file_atomically(const std::filesystem::path& from, const std::filesystem::path& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) fail("open", from, errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{in};
  AtomicFile out(to);
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
