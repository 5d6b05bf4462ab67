// Writing a checkpoint file: the arguments checked, then HDF5 through its C API into a temporary,
// sealed and renamed into place. Layout: every tensor is a contiguous float32 dataset
// (H5T_IEEE_F32LE, no chunking, no filters) at its path; attributes are scalars of H5T_STD_I64LE,
// H5T_IEEE_F64LE or variable-length UTF-8 strings on groups; the root's "checksum" is
// checkpoint_checksum.h's, the user block before it checkpoint_seal.h's.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "core/files/atomic_file.h"
#include "train/checkpoint/checkpoint_file.h"

#if GPT_HAVE_HDF5
#include "train/checkpoint/checkpoint_checksum.h"
#include "train/checkpoint/checkpoint_seal.h"
#include "train/checkpoint/hdf5_handles.h"
#endif

namespace gpt {
namespace fs = std::filesystem;

#if GPT_HAVE_HDF5
namespace {

struct WriteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws WriteError with `what` and HDF5's own explanation when `ok` is false.
void check(bool ok, const std::string& what) {
  if (!ok) {
    const std::string d = hdf5_detail();
    throw WriteError(what + (d.empty() ? "" : " (" + d + ")"));
  }
}

Hid open_or_create_group(hid_t file, const std::string& group) {
  Hid g(H5Gopen2(file, "/", H5P_DEFAULT));
  check(g.valid(), "cannot open the root group");
  if (group == "/") return g;
  std::size_t i = 1;
  while (i <= group.size()) {
    const std::size_t j = std::min(group.find('/', i), group.size());
    const std::string name = group.substr(i, j - i);
    const htri_t exists = H5Lexists(g.get(), name.c_str(), H5P_DEFAULT);
    check(exists >= 0, "cannot look up group " + group.substr(0, j));
    Hid next(exists > 0 ? H5Gopen2(g.get(), name.c_str(), H5P_DEFAULT)
                        : H5Gcreate2(g.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    check(next.valid(), "cannot create group " + group.substr(0, j));
    g = std::move(next);
    i = j + 1;
  }
  return g;
}

void write_attr(hid_t obj, const std::string& group, const std::string& name, const AttrValue& value) {
  const std::string where = "attribute " + name + " of group " + group;
  Hid space(H5Screate(H5S_SCALAR));
  check(space.valid(), "cannot create a dataspace for " + where);
  Hid attr;
  herr_t r = -1;
  if (const auto* i = std::get_if<std::int64_t>(&value)) {
    attr = Hid(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT));
    check(attr.valid(), "cannot create " + where);
    r = H5Awrite(attr.get(), H5T_NATIVE_INT64, i);
  } else if (const auto* d = std::get_if<double>(&value)) {
    attr = Hid(H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT));
    check(attr.valid(), "cannot create " + where);
    r = H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, d);
  } else {
    // Variable-length UTF-8: h5py reads it as str, and there is no 64 KiB attribute size limit.
    const std::string& s = std::get<std::string>(value);
    Hid type(H5Tcopy(H5T_C_S1));
    check(type.valid() && H5Tset_size(type.get(), H5T_VARIABLE) >= 0 && H5Tset_cset(type.get(), H5T_CSET_UTF8) >= 0,
          "cannot make a string type for " + where);
    attr = Hid(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
    check(attr.valid(), "cannot create " + where);
    const char* p = s.c_str();
    r = H5Awrite(attr.get(), type.get(), &p);
  }
  check(r >= 0, "cannot write " + where);
  check(attr.close(), "cannot close " + where);
}

struct SortedTensor {
  std::string path;  // no leading '/'
  const TensorRef* ref;
  std::size_t count;
};

// Checks the arguments before anything touches the disk; returns the tensors sorted by path and
// the attributes under normalized group names.
std::pair<std::vector<SortedTensor>, std::map<std::string, Attrs>> validate(const std::map<std::string, Attrs>& attrs,
                                                                            const std::vector<TensorRef>& tensors) {
  std::vector<SortedTensor> sorted;
  sorted.reserve(tensors.size());
  for (const TensorRef& t : tensors) {
    const std::string p = normalize_group(t.path).substr(1);
    if (p.empty()) throw std::invalid_argument("a tensor has an empty path");
    std::size_t count = 1;
    for (std::int64_t d : t.shape) {
      if (d < 0) throw std::invalid_argument("tensor " + p + " has a negative dimension");
      count *= static_cast<std::size_t>(d);
    }
    if (count > 0 && t.data == nullptr) throw std::invalid_argument("tensor " + p + " has no data");
    sorted.push_back({p, &t, count});
  }
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i].path == sorted[i - 1].path) throw std::invalid_argument("tensor " + sorted[i].path + " given twice");

  std::map<std::string, Attrs> norm;
  for (const auto& [group, group_attrs] : attrs) {
    const std::string g = normalize_group(group);
    if (std::binary_search(sorted.begin(), sorted.end(), SortedTensor{g.substr(1), nullptr, 0},
                           [](const auto& a, const auto& b) { return a.path < b.path; }))
      throw std::invalid_argument("group " + g + " is also a tensor");
    Attrs& out = norm[g];
    for (const auto& [name, value] : group_attrs) {
      if (name.empty() || name.find('/') != std::string::npos || name == ".")
        throw std::invalid_argument("bad attribute name '" + name + "' in group " + g);
      if (g == "/" && name == kChecksumAttr)
        throw std::invalid_argument("root attribute 'checksum' is reserved for the file's checksum");
      if (const auto* s = std::get_if<std::string>(&value); s && s->find('\0') != std::string::npos)
        throw std::invalid_argument("attribute " + name + " of group " + g + " holds a NUL character");
      if (!out.emplace(name, value).second)
        throw std::invalid_argument("attribute " + name + " of group " + g + " given twice");
    }
  }
  return {std::move(sorted), std::move(norm)};
}

// Closes a file whose writing failed. Its close flushes the metadata still cached, which on a
// full disk fails again, and HDF5 1.10 cannot be asked to close a file twice: a second H5Fclose,
// or its exit handler, crashes in H5F__close. So the descriptor under the file is first pointed
// at an anonymous in-memory file (memfd), where the rest of the close can write, and the file is
// closed once; the real file is deleted afterwards anyway. Errors are dropped: the first one is
// reported.
void close_failed_file(Hid& file) {
  if (!file.valid()) return;
  void* handle = nullptr;
  if (H5Fget_vfd_handle(file.get(), H5P_DEFAULT, &handle) >= 0 && handle != nullptr) {
    const int fd = *static_cast<int*>(handle);  // the sec2 driver's handle is its descriptor
    const int scratch = ::memfd_create("failed-checkpoint", MFD_CLOEXEC);
    if (scratch >= 0) {
      (void)::dup2(scratch, fd);
      ::close(scratch);
    }
  }
  (void)file.close();
  H5Eclear2(H5E_DEFAULT);
}

void write_contents(hid_t file, const std::vector<SortedTensor>& tensors, const std::map<std::string, Attrs>& attrs);

// Writes everything to `tmp` (created exclusively), closes it and seals it.
void write_hdf5(const fs::path& tmp, const std::vector<SortedTensor>& tensors,
                const std::map<std::string, Attrs>& attrs) {
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS));
  check(fapl.valid() && H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG) >= 0, "cannot make file access properties");
  Hid fcpl(H5Pcreate(H5P_FILE_CREATE));
  check(fcpl.valid() && H5Pset_userblock(fcpl.get(), kUserBlock) >= 0, "cannot make file creation properties");
  Hid file(H5Fcreate(tmp.c_str(), H5F_ACC_EXCL, fcpl.get(), fapl.get()));
  check(file.valid(), "cannot create " + tmp.string());
  try {
    write_contents(file.get(), tensors, attrs);
    check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL) >= 0, "cannot flush " + tmp.string());
    check(file.close(), "cannot close " + tmp.string());
  } catch (...) {
    close_failed_file(file);
    throw;
  }
  seal_file(tmp);
}

// The groups, attributes and datasets; every object opened here is closed before it returns or throws.
void write_contents(hid_t file, const std::vector<SortedTensor>& tensors, const std::map<std::string, Attrs>& attrs) {
  for (const auto& [group, group_attrs] : attrs) {
    Hid g = open_or_create_group(file, group);
    for (const auto& [name, value] : group_attrs) write_attr(g.get(), group, name, value);
  }

  Hid lcpl(H5Pcreate(H5P_LINK_CREATE));
  check(lcpl.valid() && H5Pset_create_intermediate_group(lcpl.get(), 1) >= 0, "cannot make link properties");
  // Contiguous, space allocated at the write, never pre-filled: one H5Dwrite streams the bytes.
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE));
  check(dcpl.valid() && H5Pset_layout(dcpl.get(), H5D_CONTIGUOUS) >= 0 &&
            H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_LATE) >= 0 &&
            H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER) >= 0,
        "cannot make dataset properties");
  std::vector<TensorView> views;
  views.reserve(tensors.size());
  for (const SortedTensor& t : tensors) {
    const auto& shape = t.ref->shape;
    std::vector<hsize_t> dims(shape.begin(), shape.end());
    Hid space(shape.empty() ? H5Screate(H5S_SCALAR)
                            : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
    check(space.valid(), "cannot make the dataspace of tensor " + t.path);
    Hid ds(H5Dcreate2(file, t.path.c_str(), H5T_IEEE_F32LE, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT));
    check(ds.valid(), "cannot create dataset " + t.path);
    if (t.count > 0)
      check(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.ref->data) >= 0,
            "cannot write dataset " + t.path);
    check(ds.close(), "cannot close dataset " + t.path);
    views.push_back({&t.path, &shape, t.ref->data, t.count});
  }

  {
    Hid root(H5Gopen2(file, "/", H5P_DEFAULT));
    check(root.valid(), "cannot open the root group");
    write_attr(root.get(), "/", kChecksumAttr, checksum_hex(views, attrs));
  }
}

}  // namespace
#endif  // GPT_HAVE_HDF5

void write_checkpoint_file(const fs::path& path, const std::map<std::string, Attrs>& attrs,
                           const std::vector<TensorRef>& tensors) {
#if GPT_HAVE_HDF5
  init_hdf5();
  std::vector<SortedTensor> sorted;
  std::map<std::string, Attrs> norm;
  try {
    std::tie(sorted, norm) = validate(attrs, tensors);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("checkpoint " + path.string() + ": " + e.what());
  }
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  try {
    std::error_code ec;
    fs::create_directories(dir, ec);
    const std::lock_guard hdf5_lock(hdf5_mutex());
    if (ec) throw WriteError("cannot create folder " + dir.string() + ": " + ec.message());
    // HDF5 creates the file by name; the AtomicFile fsyncs it, renames it into place and fsyncs
    // the folder. Its name is the checkpoint folder's temporary_path, which that folder's cleanup
    // knows; a failure removes it.
    AtomicFile file(path, temporary_path(path), AtomicFile::Creation::by_caller);
    write_hdf5(file.temporary_path(), sorted, norm);
    file.commit();
  } catch (const NotDurableError& e) {
    // The rename is done; only the folder's fsync failed. A complete file is in place.
    throw std::runtime_error("checkpoint " + path.string() + " written but not made durable: " + e.what());
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot write checkpoint " + path.string() + ": " + e.what());
  }
#else
  (void)attrs;
  (void)tensors;
  throw_no_hdf5("write checkpoint " + path.string());
#endif
}

}  // namespace gpt
