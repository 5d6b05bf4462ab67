// Fault injection for the checkpoint writer, loaded into the real `train` binary with
// LD_PRELOAD: it wraps the C library's open, write, pwrite, fsync and rename and, for the one file
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
// Unset variables, or a spec not understood, inject nothing (the spec is checked by the script).
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

enum class Kind { none, enospc, fsync_error, rename_error, vanish, remove_dir, remount_ro, trace };

struct Fault {
  Kind kind = Kind::none;
  long long at = 0;  // bytes, for enospc / vanish / delete
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
    else if (s.rfind("fsync=", 0) == 0)
      r.kind = Kind::fsync_error, r.error = errno_named(s.substr(6));
    else if (s.rfind("rename=", 0) == 0)
      r.kind = Kind::rename_error, r.error = errno_named(s.substr(7));
    else if (s == "remount-ro")
      r.kind = Kind::remount_ro;
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
  const int fd = next<int (*)(const char*, int, ...)>("open")(path, flags, mode);
  note_open(path, flags, fd);
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
  const long long n = allowance(fd, -1, len);
  if (n < 0) return -1;
  const ssize_t r = next<ssize_t (*)(int, const void*, size_t)>("write")(fd, buf, static_cast<size_t>(n));
  if (r > 0 && fd == g_fd) g_written += r;
  return r;
}

ssize_t pwrite(int fd, const void* buf, size_t len, off_t offset) {
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
  if (fd >= 0 && fault().kind == Kind::fsync_error) {
    char link[64], target[4096];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0) {
      target[n] = '\0';
      if (matches(target)) {
        errno = fault().error;
        return -1;
      }
    }
  }
  return next<int (*)(int)>("fsync")(fd);
}

int close(int fd) {
  if (fd == g_fd) g_fd = -1;
  return next<int (*)(int)>("close")(fd);
}

int rename(const char* from, const char* to) {
  if (matches(from) && fault().kind == Kind::rename_error) {
    errno = fault().error;
    return -1;
  }
  return next<int (*)(const char*, const char*)>("rename")(from, to);
}

}  // extern "C"
