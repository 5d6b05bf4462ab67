// Checkpoint files (see checkpoint_file.h for the contract): what needs no HDF5. Writing is
// checkpoint_write.cpp, reading checkpoint_read.cpp, the layout's two integrity checks
// checkpoint_checksum.h and checkpoint_seal.h, HDF5's handles and lock hdf5_handles.h. The folder
// of a run's checkpoints (names, listing, pruning) is checkpoint_folder.cpp.
#include "train/checkpoint/checkpoint_file.h"

#include <unistd.h>

#include <stdexcept>

#include "train/checkpoint/checkpoint_checksum.h"

namespace gpt {
namespace fs = std::filesystem;

namespace {
constexpr const char* kTemporaryInfix = ".tmp.";  // <name>.tmp.<pid>
}  // namespace

bool checkpoints_supported() {
  return GPT_HAVE_HDF5 != 0;
}

void throw_no_hdf5(const std::string& what) {
  throw std::runtime_error("this build has no HDF5: cannot " + what +
                           " (install libhdf5-dev and reconfigure; the GPU machine's staged build has none)");
}

fs::path temporary_path(const fs::path& path) {
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  return dir / (path.filename().string() + kTemporaryInfix + std::to_string(::getpid()));
}

bool is_temporary_name(const std::string& filename) {
  return filename.find(kTemporaryInfix) != std::string::npos;
}

namespace {
const char* type_name(const AttrValue& v) {
  return std::holds_alternative<std::int64_t>(v) ? "an integer"
         : std::holds_alternative<double>(v)     ? "a float"
                                                 : "a string";
}
}  // namespace

// Looks up attribute `name` of `group` holding a T; CheckpointError when missing or of another type.
template <class T>
static const T& attr_of(const fs::path& path, const std::map<std::string, Attrs>& attrs, const std::string& group,
                        const std::string& name, const char* want) {
  const std::string g = normalize_group(group);
  const auto git = attrs.find(g);
  if (git == attrs.end() || !git->second.count(name))
    throw CheckpointError("checkpoint " + path.string() + ": no attribute " + name + " in group " + g);
  const AttrValue& v = git->second.at(name);
  if (!std::holds_alternative<T>(v))
    throw CheckpointError("checkpoint " + path.string() + ": attribute " + name + " of group " + g + " is " +
                          type_name(v) + ", expected " + want);
  return std::get<T>(v);
}

std::int64_t CheckpointFile::attr_int(const std::string& group, const std::string& name) const {
  return attr_of<std::int64_t>(path_, attrs_, group, name, "an integer");
}
double CheckpointFile::attr_double(const std::string& group, const std::string& name) const {
  return attr_of<double>(path_, attrs_, group, name, "a float");
}
std::string CheckpointFile::attr_string(const std::string& group, const std::string& name) const {
  return attr_of<std::string>(path_, attrs_, group, name, "a string");
}
bool CheckpointFile::has_attr(const std::string& group, const std::string& name) const {
  const auto it = attrs_.find(normalize_group(group));
  return it != attrs_.end() && it->second.count(name) > 0;
}

bool CheckpointFile::has_tensor(const std::string& path) const {
  return tensors_.count(normalize_group(path).substr(1)) > 0;
}
std::vector<std::string> CheckpointFile::tensor_paths() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [p, t] : tensors_) out.push_back(p);
  return out;
}
const std::vector<std::int64_t>& CheckpointFile::shape(const std::string& path) const {
  const auto it = tensors_.find(normalize_group(path).substr(1));
  if (it == tensors_.end()) throw CheckpointError("checkpoint " + path_.string() + ": no tensor " + path);
  return it->second.shape;
}
const std::vector<float>& CheckpointFile::values(const std::string& path) const {
  const auto it = tensors_.find(normalize_group(path).substr(1));
  if (it == tensors_.end()) throw CheckpointError("checkpoint " + path_.string() + ": no tensor " + path);
  return it->second.values;
}

}  // namespace gpt
