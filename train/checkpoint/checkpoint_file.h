#pragma once
// One checkpoint = one HDF5 file of float32 tensors and attributes, readable by h5py and h5dump
// without our code. Writing is atomic (a temporary name in the same folder, flushed, fsynced,
// renamed) and the file carries a checksum of everything in it, so a torn or corrupted file is
// refused when read. Knows nothing about models (the trainer decides what goes in) or about the
// folder of a run's checkpoints (checkpoint_folder.h).
#include <cstdint>
#include <filesystem>
#include <map>
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
// Throws the std::runtime_error of a build without HDF5: "this build has no HDF5: cannot <what> ...".
[[noreturn]] void throw_no_hdf5(const std::string& what);

// Writes `tensors` and the attributes of each group in `attrs` (key: group path, "/" for the
// root, e.g. "/rng", "/data", "/optim"; groups are created) to `path`, atomically. The root also
// gets attribute "checksum": a 64-bit hash of every tensor's path, shape and bytes and every
// other attribute, written as 16 hex digits. Throws std::runtime_error on I/O failure, leaving
// no file at `path` (a previous file there is only replaced once the new one is complete).
void write_checkpoint_file(const std::filesystem::path& path, const std::map<std::string, Attrs>& attrs,
                           const std::vector<TensorRef>& tensors);
// Where write_checkpoint_file(path, ...) writes before its rename: <path>.tmp.<this process's pid>.
std::filesystem::path temporary_path(const std::filesystem::path& path);
// True for a file name temporary_path gives, in this process or another.
bool is_temporary_name(const std::string& filename);

// The first line of a sealed checkpoint file, "GPTCKPT1 <XXH64 of its bytes> <size>", read without
// verifying it: two files with the same identity hold the same bytes (or one is damaged, which
// reading it finds). Empty when there is no file at `path`, it cannot be read, or it has no seal.
// Cheap (one 512-byte read): how ranks find out whether they see the same checkpoint.
std::string checkpoint_identity(const std::filesystem::path& path);

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

}  // namespace gpt
