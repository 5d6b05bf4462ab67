#pragma once
// One checkpoint = one HDF5 file of float32 tensors and attributes, readable by h5py and h5dump
// without our code. Writing is atomic (a temporary name in the same folder, flushed, fsynced,
// renamed) and the file carries a checksum of everything in it, so a torn or corrupted file is
// refused when read. Knows nothing about models: the trainer decides what goes in.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "core/errors.h"

namespace gpt {

// A checkpoint that cannot be used: missing, unreadable, truncated, corrupt, or not ours.
class CheckpointError : public DataError {
 public:
  using DataError::DataError;
};

using AttrValue = std::variant<std::int64_t, double, std::string>;
using Attrs = std::map<std::string, AttrValue>;  // attribute name -> value

// A float32 tensor to write: `path` like "params/wte.weight" or "optim/m/h.0.ln_1.weight"
// (groups on the way are created), `data` holds product(shape) values.
struct TensorRef {
  std::string path;
  std::vector<std::int64_t> shape;
  const float* data = nullptr;
};

// True when this build can read and write checkpoints (HDF5 was found).
bool checkpoints_supported();

// Writes `tensors` and the attributes of each group in `attrs` (key: group path, "/" for the
// root, e.g. "/rng", "/data", "/optim"; groups are created) to `path`, atomically. The root also
// gets attribute "checksum": a 64-bit hash of every tensor's path, shape and bytes and every
// other attribute, written as 16 hex digits. Throws std::runtime_error on I/O failure, leaving
// no file at `path` (a previous file there is only replaced once the new one is complete).
void write_checkpoint_file(const std::filesystem::path& path, const std::map<std::string, Attrs>& attrs,
                           const std::vector<TensorRef>& tensors);

// A checkpoint read whole and verified (checksum, shapes, types) when constructed; throws
// CheckpointError naming the file and what is wrong.
class CheckpointFile {
 public:
  explicit CheckpointFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  // Attributes of a group ("/" root); CheckpointError when the group or attribute is missing or
  // of another type.
  std::int64_t attr_int(const std::string& group, const std::string& name) const;
  double attr_double(const std::string& group, const std::string& name) const;
  std::string attr_string(const std::string& group, const std::string& name) const;
  bool has_attr(const std::string& group, const std::string& name) const;
  // Every attribute, by group path ("/", "/data", ...), the checksum included.
  const std::map<std::string, Attrs>& attributes() const { return attrs_; }

  bool has_tensor(const std::string& path) const;
  std::vector<std::string> tensor_paths() const;  // sorted
  const std::vector<std::int64_t>& shape(const std::string& path) const;
  const std::vector<float>& values(const std::string& path) const;

 private:
  std::filesystem::path path_;
  std::map<std::string, Attrs> attrs_;
  struct Tensor {
    std::vector<std::int64_t> shape;
    std::vector<float> values;
  };
  std::map<std::string, Tensor> tensors_;
};

// <run_dir>/checkpoints/step_<8 digits>.h5
std::filesystem::path checkpoint_path(const std::filesystem::path& run_dir, std::int64_t step);
// Complete checkpoint files of a run (temporary files ignored), newest (highest step) first.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& run_dir);
// Opens the newest checkpoint that verifies; each one skipped is reported on `warnings` with the
// reason. nullopt when there is none.
std::optional<CheckpointFile> open_newest_valid(const std::filesystem::path& run_dir, std::ostream& warnings);
// Deletes all but the newest keep_last valid checkpoints (keep_last 0 keeps all) and stale
// temporary files. Files that fail verification among the newest are renamed to *.corrupt and
// reported on `notes`, never counted; files this process wrote or verified are not read again.
void prune_checkpoints(const std::filesystem::path& run_dir, std::int64_t keep_last, std::ostream& notes);
// Creates <run_dir>/checkpoints and checks a file can be created and deleted there, so that a
// run learns before its first step that it could not save. ConfigError naming the folder when the
// path is unusable (not a folder, no permission, read-only), std::runtime_error for other failures.
void check_checkpoint_folder(const std::filesystem::path& run_dir);

}  // namespace gpt
