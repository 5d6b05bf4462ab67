#include "core/files/replace_folder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

#include "core/errors.h"
#include "core/file_kind.h"
#include "core/files/atomic_file.h"

namespace gpt {
namespace {

// A path the user gave that cannot be used is their input (exit code 2); anything else, a full
// disk first, is an I/O failure (std::runtime_error, exit code 1).
[[noreturn]] void fail(const std::string& what, int error) {
  const std::string message = what + ": " + std::strerror(error);
  switch (error) {
    case EACCES:
    case EPERM:
    case EROFS:
    case ENOTDIR:
    case ENOENT:
    case ENAMETOOLONG:
    case ELOOP:
      throw InputError(message);
    default:
      throw std::runtime_error(message);
  }
}

std::filesystem::path parent_of(const std::filesystem::path& path) {
  return path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
}

// <name>.tmp-<pid> and <name>.old-<pid> folders beside `target` that a process no longer alive (or
// an earlier process with our pid) left behind.
void remove_stale_folders(const std::filesystem::path& target) {
  const std::string name = target.filename().string();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(parent_of(target), ec)) {
    const std::string entry_name = entry.path().filename().string();
    std::optional<long> pid = writer_pid(entry_name, name + ".tmp-");
    if (!pid) pid = writer_pid(entry_name, name + ".old-");
    if (!pid || (*pid != ::getpid() && process_alive(*pid))) continue;  // an export running now
    std::error_code ignored;
    if (entry.symlink_status(ignored).type() == std::filesystem::file_type::directory)
      std::filesystem::remove_all(entry.path(), ignored);
  }
}

// Swaps two existing paths atomically; false (errno EINVAL or ENOSYS) where the filesystem or the
// kernel cannot.
bool exchange(const std::filesystem::path& a, const std::filesystem::path& b) {
#ifdef RENAME_EXCHANGE
  return ::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0;
#else
  errno = ENOSYS;
  return false;
#endif
}

}  // namespace

FolderReplacement::FolderReplacement(const std::filesystem::path& dir) {
  if (dir.empty()) throw InputError("the folder to write is an empty path");
  target_ = dir.lexically_normal();
  if (!target_.has_filename()) target_ = target_.parent_path();  // "hf/" is "hf"
  if (target_.filename() == "." || target_.filename() == ".." || target_.filename().empty())
    target_ = std::filesystem::weakly_canonical(std::filesystem::absolute(target_));

  struct stat info {};
  if (::lstat(target_.c_str(), &info) == 0) {
    if (S_ISLNK(info.st_mode)) {
      if (::stat(target_.c_str(), &info) != 0)
        throw InputError(dir.string() + " is a symbolic link to " + std::filesystem::read_symlink(target_).string() +
                         ", which does not exist");
      if (S_ISDIR(info.st_mode)) target_ = std::filesystem::canonical(target_);
    }
    if (!S_ISDIR(info.st_mode))
      throw InputError(dir.string() + " exists and is not a folder (the export writes a folder there)");
  } else if (errno != ENOENT) {
    fail("cannot look at " + dir.string(), errno);
  }
  const bool target_exists = S_ISDIR(info.st_mode);

  const std::filesystem::path parent = parent_of(target_);
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) fail("cannot create the folder " + parent.string(), ec.value());
  remove_stale_folders(target_);

  staging_ = target_;
  staging_ += ".tmp-" + std::to_string(::getpid());
  if (::mkdir(staging_.c_str(), 0755) != 0) fail("cannot create the folder " + staging_.string(), errno);
  if (target_exists) ::chmod(staging_.c_str(), info.st_mode & 07777);  // the new folder keeps the old one's mode
}

FolderReplacement::~FolderReplacement() {
  if (swapped_) return;
  std::error_code ignored;
  std::filesystem::remove_all(staging_, ignored);
}

bool FolderReplacement::is_temporary_beside_new_file(const std::string& name) const {
  const auto written_anew = [&](const std::string& file) {
    return !file.empty() && std::filesystem::exists(std::filesystem::symlink_status(staging_ / file));
  };
  if (name.ends_with(".tmp") && written_anew(name.substr(0, name.size() - 4))) return true;
  const std::size_t infix = name.rfind(".tmp-");
  return infix != std::string::npos && writer_pid(name, name.substr(0, infix + 5)) &&
         written_anew(name.substr(0, infix));
}

void FolderReplacement::carry_over_old_entries() const {
  std::error_code ec;
  if (!std::filesystem::is_directory(target_, ec)) return;
  using std::filesystem::copy_options;
  for (const auto& entry : std::filesystem::directory_iterator(target_)) {
    const std::filesystem::path name = entry.path().filename(), to = staging_ / name;
    if (std::filesystem::exists(std::filesystem::symlink_status(to))) continue;  // written anew
    // A temporary an earlier writer left beside one of the files written anew (NAME.tmp-PID, or
    // NAME.tmp from before AtomicFile): not the user's.
    if (is_temporary_beside_new_file(name.string())) continue;
    std::filesystem::copy(entry.path(), to,
                          copy_options::create_hard_links | copy_options::recursive | copy_options::copy_symlinks, ec);
    if (!ec) continue;
    std::error_code ignored;
    std::filesystem::remove_all(to, ignored);  // a filesystem without hard links: copied
    std::filesystem::copy(entry.path(), to, copy_options::recursive | copy_options::copy_symlinks, ec);
    if (ec)
      throw std::runtime_error("cannot carry " + entry.path().string() + " over into " + to.string() + ": " +
                               ec.message() + " (" + target_.string() + " is left as it was)");
  }
}

void FolderReplacement::swap_in() {
  const std::string unchanged = " (" + target_.string() + " is left as it was)";
  struct stat info {};
  if (::lstat(target_.c_str(), &info) != 0) {
    if (::rename(staging_.c_str(), target_.c_str()) != 0)
      fail("cannot rename " + staging_.string() + " to " + target_.string(), errno);
    swapped_ = true;
    return;
  }
  if (exchange(staging_, target_)) {
    swapped_ = true;
    std::error_code ignored;  // what is left is found and removed by the next replacement
    std::filesystem::remove_all(staging_, ignored);
    return;
  }
  if (errno != EINVAL && errno != ENOSYS)
    throw std::runtime_error("cannot swap " + staging_.string() + " with " + target_.string() + ": " +
                             std::strerror(errno) + unchanged);
  // No RENAME_EXCHANGE here (some network and FUSE filesystems): two renames, with a moment without
  // DIR between them.
  std::filesystem::path old = target_;
  old += ".old-" + std::to_string(::getpid());
  if (::rename(target_.c_str(), old.c_str()) != 0)
    throw std::runtime_error("cannot rename " + target_.string() + " to " + old.string() + ": " + std::strerror(errno) +
                             unchanged);
  if (::rename(staging_.c_str(), target_.c_str()) != 0) {
    const int error = errno;
    ::rename(old.c_str(), target_.c_str());
    throw std::runtime_error("cannot rename " + staging_.string() + " to " + target_.string() + ": " +
                             std::strerror(error) + unchanged);
  }
  swapped_ = true;
  std::error_code ignored;
  std::filesystem::remove_all(old, ignored);
}

void FolderReplacement::commit() {
  carry_over_old_entries();
  try {
    fsync_folder(staging_);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(e.what() + (" (" + target_.string() + " is left as it was)"));
  }
  swap_in();
  const std::filesystem::path parent = parent_of(target_);
  try {
    fsync_folder(parent);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(target_.string() + " is replaced, but " + e.what());
  }
}

}  // namespace gpt
