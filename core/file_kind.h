#pragma once
// What a path is, for the readers that must refuse anything but a regular file before opening it:
// open() of a FIFO for reading blocks until a writer appears, forever if none does.
#include <sys/types.h>
#include <filesystem>
#include <string>

namespace gpt {

// " (a FIFO)", " (a directory)" and the like; "" for a regular file or an unknown kind.
std::string special_file_kind(mode_t mode);

// Why `path` cannot be read as a regular file ("does not exist", "is not a regular file (a
// FIFO)", "cannot be examined: <reason>"), or "" when it can. Links are followed.
std::string not_a_regular_file(const std::filesystem::path& path);

}  // namespace gpt
