#include "core/file_kind.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace gpt {

std::string special_file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return " (a directory)";
  if (S_ISFIFO(mode)) return " (a FIFO)";
  if (S_ISCHR(mode)) return " (a character device)";
  if (S_ISBLK(mode)) return " (a block device)";
  if (S_ISSOCK(mode)) return " (a socket)";
  return "";
}

std::string not_a_regular_file(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return errno == ENOENT ? "does not exist" : std::string("cannot be examined: ") + std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return "is not a regular file" + special_file_kind(st.st_mode);
  return "";
}

}  // namespace gpt
