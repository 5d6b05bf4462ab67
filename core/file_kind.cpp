#include "core/file_kind.h"

#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

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

std::optional<long> writer_pid(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return std::nullopt;
  const std::string_view digits = name.substr(prefix.size());
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  return std::stol(std::string(digits));
}

bool process_alive(long pid) {
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

}  // namespace gpt
