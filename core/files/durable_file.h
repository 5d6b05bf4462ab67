#pragma once
// Writing a file so that a crash or a full disk leaves the old file or the whole new one, never a
// part: POSIX calls that keep errno in every message (a full disk says "No space left on device"),
// into <path>.tmp, fsync'd, renamed over <path>. The temporary is created afresh (a stale one is
// unlinked first, then O_CREAT | O_EXCL), so nothing is ever written through an existing file or a
// symlink: a link at <path> is replaced, what it points to is left alone. The rename is durable once
// the folder is fsync'd (fsync_folder), which callers writing several files do once at the end.
// Every failure is a std::runtime_error naming the file (an I/O failure, exit code 1 in the tools).
#include <cstddef>
#include <filesystem>
#include <string_view>

namespace gpt {

class DurableFile {
 public:
  explicit DurableFile(std::filesystem::path path);
  ~DurableFile();  // removes the temporary unless committed
  DurableFile(const DurableFile&) = delete;
  DurableFile& operator=(const DurableFile&) = delete;

  void write(const void* data, std::size_t bytes);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // fsync, close, rename over the path.
  void commit();

 private:
  std::filesystem::path path_, temporary_;
  int fd_ = -1;
  bool committed_ = false;
};

// `contents` as the file at `path`, through a DurableFile.
void write_file_durably(const std::filesystem::path& path, std::string_view contents);

// `from` read and written to `to` through a DurableFile (never through what `to` is now).
void copy_file_durably(const std::filesystem::path& from, const std::filesystem::path& to);

// fsync of a folder, so that the entries created, renamed or removed in it are on disk.
void fsync_folder(const std::filesystem::path& folder);

}  // namespace gpt
