#pragma once
// The folder of a run's checkpoints, <run_dir>/checkpoints/step_<8 digits>.h5: names, listing,
// the newest valid file, pruning, and the check that checkpoints can be written there. One file's
// format (writing, reading, verifying) is checkpoint_file.h.
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "train/checkpoint/checkpoint_file.h"

namespace gpt {

// <run_dir>/checkpoints/step_<8 digits>.h5
std::filesystem::path checkpoint_path(const std::filesystem::path& run_dir, std::int64_t step);
// Complete checkpoint files of a run (temporary files ignored), newest (highest step) first.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& run_dir);
// Creates <run_dir>/checkpoints and checks a file can be created and deleted there, so that a
// run learns before its first step that it could not save. ConfigError naming the folder when the
// path is unusable (not a folder, no permission, read-only), std::runtime_error for other failures.
void check_checkpoint_folder(const std::filesystem::path& run_dir);

// One run's checkpoints as its writer sees them. It remembers what it knows of each file's
// validity (written by it, or verified; a file changed since, by size or modification time, is
// read again), so that prune does not read a large file again and a bad file is reported once,
// and which temporary files it is writing, which prune leaves alone. The trainer holds one; two
// for one folder would not share that knowledge. write, open_newest_valid and prune may be
// called from different threads.
class CheckpointFolder {
 public:
  explicit CheckpointFolder(std::filesystem::path run_dir);
  CheckpointFolder(const CheckpointFolder&) = delete;
  CheckpointFolder& operator=(const CheckpointFolder&) = delete;

  const std::filesystem::path& run_dir() const { return run_dir_; }

  // Writes checkpoint_path(run_dir, step) with write_checkpoint_file (same errors).
  void write(std::int64_t step, const std::map<std::string, Attrs>& attrs, const std::vector<TensorRef>& tensors);
  // Opens the newest checkpoint that verifies; each one skipped is reported on `warnings` with the
  // reason. nullopt when there is none.
  std::optional<CheckpointFile> open_newest_valid(std::ostream& warnings);
  // Deletes all but the newest keep_last valid checkpoints (keep_last 0 keeps all) and stale
  // temporary files. Files that fail verification among the newest are renamed to *.corrupt and
  // reported on `notes`, never counted; files this object wrote or verified are not read again.
  void prune(std::int64_t keep_last, std::ostream& notes);

 private:
  struct Verdict {
    std::uintmax_t size = 0;
    std::filesystem::file_time_type modified;
    bool valid = false;
    bool reported = false;  // its problem was already printed
    std::string problem;
  };
  void remember_verdict(const std::filesystem::path& p, bool valid, const std::string& problem, bool reported);
  std::optional<Verdict> known_verdict(const std::filesystem::path& p) const;
  std::optional<std::string> problem_of(const std::filesystem::path& p);

  std::filesystem::path run_dir_;
  mutable std::mutex mutex_;                 // guards the two below
  std::set<std::string> in_flight_;          // names of the temporary files being written now
  std::map<std::string, Verdict> verdicts_;  // by absolute path
};

// The checkpoint a tool reads (generate, export): `file` when it is not empty, else the newest
// valid one in `run_dir` (each one skipped reported on `warnings`). ConfigError naming the folder
// when it has none; CheckpointError for a bad `file`.
CheckpointFile open_file_or_newest(const std::string& file, const std::filesystem::path& run_dir,
                                   std::ostream& warnings);

}  // namespace gpt
