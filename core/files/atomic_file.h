#pragma once
// The one way the project writes a file for a user, so that a crash, a kill or a full disk leaves
// the old file or the whole new one, never a part: a temporary in the same folder, written,
// fsync'd, closed, renamed over the target, then the folder fsync'd so the rename is on disk too.
// The temporary is <path>.tmp-<pid> (the NAME.tmp-PID that prepare's and export's stale-temporary
// cleanup recognises, core/file_kind.h); the ones a killed writer of the same path left behind are
// removed when the next writer starts. It is created afresh (O_EXCL), so nothing is ever written
// through an existing file or a link: a link at <path> is replaced, what it points to is left
// alone. Every failure is a std::runtime_error naming the file and keeping errno's text (a full
// disk says "No space left on device"): an I/O failure, exit code 1 in the tools.
#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string_view>

namespace gpt {

// Thrown by AtomicFile::commit() once the file is renamed into place but its folder's fsync
// failed: the new file is whole and readable, but a power cut could still undo the rename.
class NotDurableError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class AtomicFile {
 public:
  // Who creates the temporary: this object (written through write() and fd()), or a library that
  // insists on creating its file by name (HDF5), handed temporary_path().
  enum class Creation { here, by_caller };

  // <path>.tmp-<pid> for this process.
  static std::filesystem::path temporary_for(const std::filesystem::path& path);

  // Refuses a `path` that exists and is neither a regular file nor a symbolic link (a FIFO, a
  // folder: renaming over it would replace it), removes the dead writers' temporaries, then
  // creates the temporary (Creation::here).
  explicit AtomicFile(std::filesystem::path path, Creation creation = Creation::here);
  // The same with a temporary named by the caller, in the same folder: a checkpoint's
  // <path>.tmp.<pid>, which the checkpoint folder's own cleanup knows. No stale-temporary sweep.
  AtomicFile(std::filesystem::path path, std::filesystem::path temporary, Creation creation);
  ~AtomicFile();  // removes the temporary unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t bytes);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // At `offset`, leaving the write position alone (a header filled in at the end).
  void write_at(const void* data, std::size_t bytes, off_t offset);

  // fsync (the temporary opened again by name when the caller created it), close, rename over
  // the path, fsync the folder. NotDurableError when only the last step failed.
  void commit();

  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& temporary_path() const { return temporary_; }

 private:
  void start(Creation creation);

  std::filesystem::path path_, temporary_;
  int fd_ = -1;
  bool committed_ = false;
};

// `contents` as the file at `path`, through an AtomicFile.
void write_file_atomically(const std::filesystem::path& path, std::string_view contents);

// `from` read and written to `to` through an AtomicFile (never through what `to` is now).
void copy_file_atomically(const std::filesystem::path& from, const std::filesystem::path& to);

// fsync of a folder, so that the entries created, renamed or removed in it are on disk.
void fsync_folder(const std::filesystem::path& folder);

}  // namespace gpt
