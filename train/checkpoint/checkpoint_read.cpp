// Reading a checkpoint file: its seal checked before HDF5 sees it, then every group, attribute and
// dataset read through HDF5's C API and the checksum compared (checkpoint_checksum.h).
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <system_error>

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

struct ReadState {
  std::map<std::string, Attrs>* attrs;
  std::map<std::string, std::vector<std::int64_t>>* shapes;
  std::map<std::string, std::vector<float>>* values;
  std::uintmax_t file_size;
  std::string error;  // set when the walk stops on something wrong
};

[[noreturn]] void read_fail(const std::string& what) {
  const std::string d = hdf5_detail();
  throw std::runtime_error(what + (d.empty() ? "" : " (" + d + ")"));
}

AttrValue read_attr(hid_t attr, const std::string& where) {
  Hid space(H5Aget_space(attr));
  if (!space.valid()) read_fail("cannot read the dataspace of " + where);
  if (H5Sget_simple_extent_type(space.get()) != H5S_SCALAR) read_fail(where + " is not a scalar");
  Hid type(H5Aget_type(attr));
  if (!type.valid()) read_fail("cannot read the type of " + where);
  switch (H5Tget_class(type.get())) {
    case H5T_INTEGER: {
      std::int64_t v = 0;
      if (H5Aread(attr, H5T_NATIVE_INT64, &v) < 0) read_fail("cannot read " + where);
      return v;
    }
    case H5T_FLOAT: {
      double v = 0;
      if (H5Aread(attr, H5T_NATIVE_DOUBLE, &v) < 0) read_fail("cannot read " + where);
      return v;
    }
    case H5T_STRING: {
      const htri_t vl = H5Tis_variable_str(type.get());
      if (vl < 0) read_fail("cannot read the string type of " + where);
      Hid mem(H5Tcopy(H5T_C_S1));
      if (!mem.valid() || H5Tset_cset(mem.get(), H5Tget_cset(type.get())) < 0)
        read_fail("cannot make a string type for " + where);
      if (vl > 0) {
        if (H5Tset_size(mem.get(), H5T_VARIABLE) < 0) read_fail("cannot make a string type for " + where);
        char* p = nullptr;
        if (H5Aread(attr, mem.get(), &p) < 0) read_fail("cannot read " + where);
        std::string s = p ? p : "";
        H5free_memory(p);
        return s;
      }
      const std::size_t size = H5Tget_size(type.get());
      if (size == 0 || H5Tset_size(mem.get(), size) < 0 || H5Tset_strpad(mem.get(), H5T_STR_NULLPAD) < 0)
        read_fail("cannot make a string type for " + where);
      std::string s(size, '\0');
      if (H5Aread(attr, mem.get(), s.data()) < 0) read_fail("cannot read " + where);
      s.resize(std::strlen(s.c_str()));
      return s;
    }
    default:
      read_fail(where + " has an unsupported type (expected integer, float or string)");
  }
}

// One step of an HDF5 iteration: an exception cannot cross HDF5's C frames, so it stops the walk
// (-1) and its message is kept for check_walk.
template <class Step>
herr_t guarded_step(ReadState& st, Step&& step) {
  try {
    step();
  } catch (const std::exception& e) {
    if (st.error.empty()) st.error = e.what();
    return -1;
  }
  return 0;
}

// After an iteration: the exception a step kept, else HDF5's own failure.
void check_walk(herr_t r, const ReadState& st, const std::string& what) {
  if (!st.error.empty()) throw std::runtime_error(st.error);
  if (r < 0) read_fail(what);
}

void read_group_attrs(hid_t group, const std::string& gname, ReadState& st) {
  struct Ctx {
    const std::string* gname;
    ReadState* st;
  } ctx{&gname, &st};
  const herr_t r = H5Aiterate2(
      group, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t obj, const char* name, const H5A_info_t*, void* data) -> herr_t {
        auto& c = *static_cast<Ctx*>(data);
        const std::string where = std::string("attribute ") + name + " of group " + *c.gname;
        return guarded_step(*c.st, [&] {
          Hid attr(H5Aopen(obj, name, H5P_DEFAULT));
          if (!attr.valid()) read_fail("cannot open " + where);
          (*c.st->attrs)[*c.gname][name] = read_attr(attr.get(), where);
        });
      },
      &ctx);
  check_walk(r, st, "cannot list the attributes of group " + gname);
}

// Asks for transparent huge pages on a large fresh buffer before it is first touched: for a 500 MB
// tensor that makes far fewer page faults (where THP is "madvise", Debian's default).
void advise_huge_pages(void* p, std::size_t bytes) {
#ifdef MADV_HUGEPAGE
  constexpr std::uintptr_t kHuge = std::uintptr_t{1} << 21;
  if (bytes < 16 * kHuge) return;
  const std::uintptr_t begin = (reinterpret_cast<std::uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // a hint: errors ignored
#else
  (void)p;
  (void)bytes;
#endif
}

void read_dataset(hid_t ds, const std::string& path, ReadState& st) {
  Hid type(H5Dget_type(ds));
  if (!type.valid()) read_fail("cannot read the type of dataset " + path);
  if (H5Tget_class(type.get()) != H5T_FLOAT || H5Tget_size(type.get()) != 4)
    read_fail("dataset " + path + " is not float32");
  Hid space(H5Dget_space(ds));
  if (!space.valid()) read_fail("cannot read the dataspace of dataset " + path);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) read_fail("cannot read the shape of dataset " + path);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
    read_fail("cannot read the shape of dataset " + path);
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) read_fail("cannot read the size of dataset " + path);
  // A damaged shape must not make us allocate more than the file could hold. Only the layouts
  // that store every value in the file are accepted: a chunked dataset may claim any size and
  // read back as fill values (our writer makes contiguous datasets, h5py's default too).
  Hid dcpl(H5Dget_create_plist(ds));
  if (!dcpl.valid()) read_fail("cannot read the creation properties of dataset " + path);
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout != H5D_CONTIGUOUS && layout != H5D_COMPACT)
    read_fail("dataset " + path + " is chunked or virtual (checkpoints hold contiguous float32 datasets)");
  if (static_cast<std::uintmax_t>(n) > st.file_size / 4)
    read_fail("dataset " + path + " claims " + std::to_string(n) + " values, more than the file holds");
  std::vector<float> values;
  values.reserve(static_cast<std::size_t>(n));
  advise_huge_pages(values.data(), static_cast<std::size_t>(n) * sizeof(float));
  values.resize(static_cast<std::size_t>(n));
  if (n > 0 && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
    read_fail("cannot read dataset " + path);
  (*st.shapes)[path] = std::vector<std::int64_t>(dims.begin(), dims.end());
  (*st.values)[path] = std::move(values);
}

// Reads a group's attributes, then recurses into its links.
void read_group(hid_t group, const std::string& gname, ReadState& st) {
  read_group_attrs(group, gname, st);
  struct Ctx {
    const std::string* gname;
    ReadState* st;
  } ctx{&gname, &st};
  const herr_t r = H5Literate(
      group, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t g, const char* name, const H5L_info_t* info, void* data) -> herr_t {
        auto& c = *static_cast<Ctx*>(data);
        const std::string child = (*c.gname == "/" ? "/" : *c.gname + "/") + name;
        return guarded_step(*c.st, [&] {
          if (info->type != H5L_TYPE_HARD) read_fail(child + " is a soft or external link");
          Hid obj(H5Oopen(g, name, H5P_DEFAULT));
          if (!obj.valid()) read_fail("cannot open " + child);
          switch (H5Iget_type(obj.get())) {
            case H5I_GROUP:
              read_group(obj.get(), child, *c.st);
              break;
            case H5I_DATASET:
              read_dataset(obj.get(), child.substr(1), *c.st);
              break;
            default:
              read_fail(child + " is neither a group nor a dataset");
          }
        });
      },
      &ctx);
  check_walk(r, st, "cannot list group " + gname);
}

}  // namespace
#endif  // GPT_HAVE_HDF5

CheckpointFile::CheckpointFile(const fs::path& path) : path_(path) {
#if GPT_HAVE_HDF5
  init_hdf5();
  const auto fail = [&](const std::string& what) {
    throw CheckpointError("checkpoint " + path.string() + ": " + what);
  };
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("no such file");
  if (!fs::is_regular_file(path, ec)) fail("not a regular file");
  if (const std::string problem = seal_problem(path); !problem.empty()) fail(problem);
  std::map<std::string, std::vector<std::int64_t>> shapes;
  std::map<std::string, std::vector<float>> values;
  const std::lock_guard hdf5_lock(hdf5_mutex());
  try {
    Hid fapl(H5Pcreate(H5P_FILE_ACCESS));
    if (!fapl.valid() || H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG) < 0)
      read_fail("cannot make file access properties");
    Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
    if (!file.valid()) read_fail("not an HDF5 file, or damaged");
    Hid root(H5Gopen2(file.get(), "/", H5P_DEFAULT));
    if (!root.valid()) read_fail("cannot open the root group");
    ReadState st{&attrs_, &shapes, &values, fs::file_size(path, ec), {}};
    read_group(root.get(), "/", st);
  } catch (const std::bad_alloc&) {
    H5Eclear2(H5E_DEFAULT);
    fail("out of memory reading it (a damaged size?)");
  } catch (const std::exception& e) {
    H5Eclear2(H5E_DEFAULT);
    fail(e.what());
  }
  const auto root = attrs_.find("/");
  const AttrValue* stored = nullptr;
  if (root != attrs_.end())
    if (auto it = root->second.find(kChecksumAttr); it != root->second.end()) stored = &it->second;
  if (!stored) fail("no checksum attribute (not written by this trainer, or damaged)");
  if (!std::holds_alternative<std::string>(*stored)) fail("the checksum attribute is not a string");

  std::vector<TensorView> views;
  views.reserve(values.size());
  for (auto& [p, v] : values) {
    views.push_back({&p, &shapes.at(p), v.data(), v.size()});
  }
  const std::string computed = checksum_hex(views, attrs_);
  if (computed != std::get<std::string>(*stored))
    fail("checksum mismatch: the file says " + std::get<std::string>(*stored) + ", its contents give " + computed +
         " (corrupted or torn file)");
  for (auto& [p, v] : values) tensors_[p] = Tensor{std::move(shapes.at(p)), std::move(v)};
#else
  throw_no_hdf5("read checkpoint " + path.string());
#endif
}

}  // namespace gpt
