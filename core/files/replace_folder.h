#pragma once
// Replacing a whole folder so that a reader, or a crash at any point, sees the old folder or the
// new one, never a mix. The new files are written into a fresh folder beside it, <DIR>.tmp-<pid>
// (made with mkdir, so never through an existing link); commit() fsyncs it and swaps it with DIR in
// one renameat2(RENAME_EXCHANGE), then removes the old folder, by then at the temporary's name.
// Where the filesystem has no RENAME_EXCHANGE, DIR is renamed to <DIR>.old-<pid> and the temporary
// to DIR: a crash between those two renames leaves no DIR, the old folder at <DIR>.old-<pid>.
// Entries of the old DIR that the new one lacks (a README.md, a subfolder) are carried over as
// hard links (copied where the filesystem has none). The folders a killed replacement left behind
// (<DIR>.tmp-<pid>, <DIR>.old-<pid> of a process no longer alive) are removed when the next
// replacement of DIR starts.
#include <filesystem>
#include <string>

namespace gpt {

class FolderReplacement {
 public:
  // Creates DIR's parent folders and the temporary folder. InputError for an empty path and for a
  // DIR that exists but is not a folder; a DIR that is a symlink to a folder is replaced where it
  // points, and the link stays.
  explicit FolderReplacement(const std::filesystem::path& dir);
  // Without a commit() (a failure): the temporary folder removed, DIR as it was.
  ~FolderReplacement();
  FolderReplacement(const FolderReplacement&) = delete;
  FolderReplacement& operator=(const FolderReplacement&) = delete;

  // Where the new folder's files are to be written.
  const std::filesystem::path& staging() const { return staging_; }
  // The folder replaced: DIR, or where its link points.
  const std::filesystem::path& target() const { return target_; }

  // Carries the old folder's other entries over, fsyncs, swaps, removes the old folder, fsyncs the
  // parent. std::runtime_error on an I/O failure, naming the path and saying whether DIR changed.
  void commit();

 private:
  void carry_over_old_entries() const;
  bool is_temporary_beside_new_file(const std::string& name) const;
  void swap_in();

  std::filesystem::path target_, staging_;
  bool swapped_ = false;
};

}  // namespace gpt
