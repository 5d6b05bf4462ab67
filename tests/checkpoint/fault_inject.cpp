// Fault injection for the checkpoint writer (and export's folder), loaded into the real `train`
// (`export`) binary with LD_PRELOAD: it wraps the C library's open, write, pwrite, fsync and rename
// (and, for kill@N and no-exchange, the other calls that change a folder) and, for the one file
// whose path contains $GPT_FAULT_FILE (e.g. "step_00000008.h5.tmp"), makes the fault named by
// $GPT_FAULT happen at the point it names. Every other file is left alone.
//   enospc@N    the disk fills after N bytes of the file: the write that crosses N writes what
//               fits, later writes fail with ENOSPC (also the metadata HDF5 writes at close)
//   fsync=ERR   fsync of the file fails with ERR (EIO or ENOSPC: what NFS and thin volumes do)
//   rename=ERR  renaming the finished file into place fails with ERR (EROFS: a read-only remount)
//   vanish@N    after N bytes the file's folder is renamed to <folder>.gone (an administrator
//               moving it, a cleanup job): the writes go on, the rename into place fails
//   delete@N    after N bytes the file's folder is deleted with everything in it
//   remount-ro  just before the file is created, `mount -o remount,ro $GPT_FAULT_MOUNT` (root;
//               a real read-only filesystem, which the creation then meets)
//   trace       prints each write of the file (offset, length) to stderr, to choose N
//   kill@N      SIGKILL just before the Nth step on any path containing $GPT_FAULT_FILE (a folder's
//               name: export's): creating a file, each write and fsync of it, a mkdir, link,
//               symlink, rename (either side), renameat2, unlink, rmdir or remove. Counting N up
//               from 1 until the program finishes kills it between every two steps once.
//   no-exchange renameat2(RENAME_EXCHANGE) on a matching path fails with EINVAL, as on a
//               filesystem without it (some network and FUSE ones)
// Unset variables, or a spec not understood, inject nothing (the spec is checked by the script).
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

enum class Kind { none, enospc, fsync_error, rename_error, vanish, remove_dir, remount_ro, trace, kill, no_exchange };

struct Fault {
  Kind kind = Kind::none;
  long long at = 0;  // bytes, for enospc / vanish / delete; the step, for kill
  int error = 0;     // errno, for fsync / rename
  std::string file;  // substring of the path that triggers
  std::string mount;
};

int errno_named(const std::string& name) {
  if (name == "EIO") return EIO;
  if (name == "ENOSPC") return ENOSPC;
  if (name == "EROFS") return EROFS;
  if (name == "EDQUOT") return EDQUOT;
  return 0;
}

const Fault& fault() {
  static const Fault f = [] {
    Fault r;
    const char* spec = std::getenv("GPT_FAULT");
    const char* file = std::getenv("GPT_FAULT_FILE");
    if (!spec || !file || !*file) return r;
    r.file = file;
    if (const char* m = std::getenv("GPT_FAULT_MOUNT")) r.mount = m;
    const std::string s = spec;
    const auto number_after = [&](std::size_t at) { return std::atoll(s.c_str() + at); };
    if (s.rfind("enospc@", 0) == 0)
      r.kind = Kind::enospc, r.at = number_after(7);
    else if (s.rfind("vanish@", 0) == 0)
      r.kind = Kind::vanish, r.at = number_after(7);
    else if (s.rfind("delete@", 0) == 0)
      r.kind = Kind::remove_dir, r.at = number_after(7);
    else if (s.rfind("kill@", 0) == 0)
      r.kind = Kind::kill, r.at = number_after(5);
    else if (s.rfind("fsync=", 0) == 0)
      r.kind = Kind::fsync_error, r.error = errno_named(s.substr(6));
    else if (s.rfind("rename=", 0) == 0)
      r.kind = Kind::rename_error, r.error = errno_named(s.substr(7));
    else if (s == "remount-ro")
      r.kind = Kind::remount_ro;
    else if (s == "no-exchange")
      r.kind = Kind::no_exchange;
    else if (s == "trace")
      r.kind = Kind::trace;
    if ((r.kind == Kind::fsync_error || r.kind == Kind::rename_error) && r.error == 0) r.kind = Kind::none;
    return r;
  }();
  return f;
}

bool matches(const char* path) {
  return path && fault().kind != Kind::none && std::strstr(path, fault().file.c_str()) != nullptr;
}

// The one file being faulted: its descriptor, folder and bytes written so far.
int g_fd = -1;
std::string g_dir;
long long g_written = 0;
bool g_folder_done = false;

template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

// kill@N: the steps on matching paths so far, and the descriptors of the files created on them.
long long g_steps = 0;
constexpr int kMaxTrackedFd = 4096;
bool g_kill_fd[kMaxTrackedFd] = {};

bool is_kill_fd(int fd) {
  return fd >= 0 && fd < kMaxTrackedFd && g_kill_fd[fd];
}

// One step on a matching path: the Nth is never taken.
void step(bool on_matching_path) {
  if (fault().kind != Kind::kill || !on_matching_path) return;
  if (++g_steps == fault().at) raise(SIGKILL);
}

// Only the creation counts: the writer opens the finished file again, by name, to fsync it.
void note_open(const char* path, int flags, int fd) {
  if (fd < 0 || !(flags & O_CREAT) || !matches(path)) return;
  g_fd = fd;
  g_written = 0;
  const std::string p = path;
  g_dir = p.substr(0, p.rfind('/'));
}

// How many of `len` bytes may be written now; -1 (errno set) when none.
long long allowance(int fd, long long offset, std::size_t len) {
  if (fd != g_fd || fd < 0) return static_cast<long long>(len);
  const Fault& f = fault();
  if (f.kind == Kind::trace) std::fprintf(stderr, "fault_inject: write offset %lld length %zu\n", offset, len);
  const long long end = g_written + static_cast<long long>(len);
  if ((f.kind == Kind::vanish || f.kind == Kind::remove_dir) && !g_folder_done && end > f.at) {
    g_folder_done = true;
    if (f.kind == Kind::vanish) {
      next<int (*)(const char*, const char*)>("rename")(g_dir.c_str(), (g_dir + ".gone").c_str());
    } else {
      const std::string command = "rm -rf '" + g_dir + "'";
      if (std::system(command.c_str()) != 0) std::fprintf(stderr, "fault_inject: %s failed\n", command.c_str());
    }
  }
  if (f.kind != Kind::enospc || end <= f.at) return static_cast<long long>(len);
  const long long room = f.at - g_written;
  if (room <= 0) {
    errno = ENOSPC;
    return -1;
  }
  return room;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  if (matches(path) && fault().kind == Kind::remount_ro && (flags & O_CREAT)) {
    const std::string command = "mount -o remount,ro '" + fault().mount + "'";
    if (std::system(command.c_str()) != 0) std::fprintf(stderr, "fault_inject: %s failed\n", command.c_str());
  }
  const bool creates = (flags & O_CREAT) && matches(path);
  step(creates);
  const int fd = next<int (*)(const char*, int, ...)>("open")(path, flags, mode);
  note_open(path, flags, fd);
  if (fault().kind == Kind::kill && fd >= 0 && fd < kMaxTrackedFd) g_kill_fd[fd] = creates;
  return fd;
}

int open64(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  return open(path, flags, mode);
}

ssize_t write(int fd, const void* buf, size_t len) {
  step(is_kill_fd(fd));
  const long long n = allowance(fd, -1, len);
  if (n < 0) return -1;
  const ssize_t r = next<ssize_t (*)(int, const void*, size_t)>("write")(fd, buf, static_cast<size_t>(n));
  if (r > 0 && fd == g_fd) g_written += r;
  return r;
}

ssize_t pwrite(int fd, const void* buf, size_t len, off_t offset) {
  step(is_kill_fd(fd));
  const long long n = allowance(fd, offset, len);
  if (n < 0) return -1;
  const ssize_t r =
      next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite")(fd, buf, static_cast<size_t>(n), offset);
  if (r > 0 && fd == g_fd) g_written += r;
  return r;
}

ssize_t pwrite64(int fd, const void* buf, size_t len, off_t offset) {
  return pwrite(fd, buf, len, offset);
}

int fsync(int fd) {
  // Our writer fsyncs through a descriptor of its own, opened by name: match on the path.
  if (fd >= 0 && (fault().kind == Kind::fsync_error || fault().kind == Kind::kill)) {
    char link[64], target[4096];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0) {
      target[n] = '\0';
      if (matches(target) && fault().kind == Kind::kill) {
        step(true);
      } else if (matches(target)) {
        errno = fault().error;
        return -1;
      }
    }
  }
  return next<int (*)(int)>("fsync")(fd);
}

int close(int fd) {
  if (fd == g_fd) g_fd = -1;
  if (fd >= 0 && fd < kMaxTrackedFd) g_kill_fd[fd] = false;
  return next<int (*)(int)>("close")(fd);
}

int rename(const char* from, const char* to) {
  if (matches(from) && fault().kind == Kind::rename_error) {
    errno = fault().error;
    return -1;
  }
  step(matches(from) || matches(to));
  return next<int (*)(const char*, const char*)>("rename")(from, to);
}

// The calls below only count steps for kill@N (and renameat2 refuses for no-exchange).
ssize_t writev(int fd, const struct iovec* iov, int count) {
  step(is_kill_fd(fd));
  return next<ssize_t (*)(int, const struct iovec*, int)>("writev")(fd, iov, count);
}

int renameat2(int from_dir, const char* from, int to_dir, const char* to, unsigned int flags) {
  if (fault().kind == Kind::no_exchange && (flags & RENAME_EXCHANGE) && (matches(from) || matches(to))) {
    errno = EINVAL;
    return -1;
  }
  step(matches(from) || matches(to));
  return next<int (*)(int, const char*, int, const char*, unsigned int)>("renameat2")(from_dir, from, to_dir, to,
                                                                                      flags);
}

int mkdir(const char* path, mode_t mode) {
  step(matches(path));
  return next<int (*)(const char*, mode_t)>("mkdir")(path, mode);
}

int link(const char* from, const char* to) {
  step(matches(from) || matches(to));
  return next<int (*)(const char*, const char*)>("link")(from, to);
}

int symlink(const char* target, const char* path) {
  step(matches(path));
  return next<int (*)(const char*, const char*)>("symlink")(target, path);
}

int unlink(const char* path) {
  step(matches(path));
  return next<int (*)(const char*)>("unlink")(path);
}

int rmdir(const char* path) {
  step(matches(path));
  return next<int (*)(const char*)>("rmdir")(path);
}

int remove(const char* path) {
  step(matches(path));
  return next<int (*)(const char*)>("remove")(path);
}

}  // extern "C"
