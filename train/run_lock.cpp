#include "train/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

#include "core/errors.h"

namespace gpt {
namespace fs = std::filesystem;

namespace {

std::string holder_text() {
  char host[256] = "?";
  ::gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  char since[32];
  std::strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return "pid " + std::to_string(::getpid()) + " on " + host + " since " + since;
}

std::string read_holder(int fd) {
  char text[512];
  const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  std::string s = n > 0 ? std::string(text, static_cast<std::size_t>(n)) : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s.empty() ? "a process that has not yet said who it is" : s;
}

}  // namespace

RunDirLock::RunDirLock(const fs::path& run_dir) {
  const fs::path path = run_dir / "train.lock";
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) throw ConfigError("run.dir: cannot create " + run_dir.string() + ": " + ec.message());
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw ConfigError("run.dir: cannot create " + path.string() + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      const std::string holder = read_holder(fd_);
      ::close(fd_);
      fd_ = -1;
      throw ConfigError("run.dir " + run_dir.string() + " is in use by another train (" + holder +
                        "): wait for it to end, or give this run another run.dir");
    }
    problem_ = std::strerror(err);  // ENOLCK, EOPNOTSUPP: a filesystem without locks
    return;
  }
  held_ = true;
  const std::string text = holder_text() + "\n";
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, text.data(), text.size(), 0);
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock; the file stays, harmless, for the next run
}

}  // namespace gpt
