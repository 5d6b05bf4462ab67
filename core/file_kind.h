#pragma once
// What a path is, for the readers that must refuse anything but a regular file before opening it:
// open() of a FIFO for reading blocks until a writer appears, forever if none does.
#include <sys/types.h>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace gpt {

// " (a FIFO)", " (a directory)" and the like; "" for a regular file or an unknown kind.
std::string special_file_kind(mode_t mode);

// Why `path` cannot be read as a regular file ("does not exist", "is not a regular file (a
// FIFO)", "cannot be examined: <reason>"), or "" when it can. Links are followed.
std::string not_a_regular_file(const std::filesystem::path& path);

// The pid in a writer's temporary name, `prefix` followed by 1 to 9 decimal digits
// ("train.bin.tmp-4242" with prefix "train.bin.tmp-"); nothing for any other name.
std::optional<long> writer_pid(std::string_view name, std::string_view prefix);

// Whether a process `pid` exists (kill(pid, 0) fails with ESRCH only when there is none; EPERM:
// alive, not ours): a dead writer's temporaries may be removed, a live one's not.
bool process_alive(long pid);

}  // namespace gpt
