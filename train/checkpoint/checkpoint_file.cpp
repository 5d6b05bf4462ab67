// Checkpoint files: HDF5 through its C API (see checkpoint_file.h for the contract). The folder
// of a run's checkpoints (names, listing, pruning) is checkpoint_folder.cpp.
//
// Layout: every tensor is a contiguous float32 dataset (H5T_IEEE_F32LE, no chunking, no filters)
// at its path; attributes are scalars of H5T_STD_I64LE, H5T_IEEE_F64LE or variable-length UTF-8
// strings on groups. The root attribute "checksum" is 16 lowercase hex digits of XXH64 (seed 0)
// over this byte stream, integers little-endian:
//   for each tensor, paths sorted bytewise (no leading '/'):
//     'T', u64 len(path), path, u64 rank, i64 dims..., u64 byte count, float32 LE data
//   for each group, sorted ("/", "/data", "/optim", ...), for each attribute, names sorted,
//   except the root's "checksum":
//     'A', u64 len(group), group, u64 len(name), name, then
//       'i' i64 value | 'd' IEEE-754 binary64 bits as u64 | 's' u64 len, UTF-8 bytes
// tests/reference/check_checkpoint.py recomputes it independently in Python.
//
// The file starts with a 512-byte HDF5 user block (HDF5 skips it; h5py and h5dump read the file
// as usual) that seals its bytes: one ASCII line "GPTCKPT1 <16 hex digits> <file size>\n",
// NUL-padded, the digits XXH64 (seed 0) of every byte after the block. A file is checked against
// it before HDF5 parses anything, so a torn or damaged file never reaches HDF5's parser, which
// has memory bugs on damaged metadata (libhdf5 1.10.8 overflows a heap buffer on a damaged
// attribute name: found by CheckpointFuzz under ASan). Files written before the seal existed
// (HDF5's signature at byte 0) are still read, with only the checksum to protect them.
#include "train/checkpoint/checkpoint_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

#ifndef GPT_HAVE_HDF5
#define GPT_HAVE_HDF5 0
#endif
#if GPT_HAVE_HDF5
#include <hdf5.h>
#include <xxhash.h>
#endif

namespace gpt {
namespace fs = std::filesystem;

namespace {

static_assert(std::endian::native == std::endian::little, "checkpoint bytes are hashed as little-endian");

constexpr const char* kChecksumAttr = "checksum";
constexpr const char* kTemporaryInfix = ".tmp.";  // <name>.tmp.<pid>
// ------------------------------------------------------------------------------------- names

// "/a/b/" or "a/b" -> "/a/b"; "" or "/" -> "/".
std::string normalize_group(const std::string& g) {
  std::string out = "/";
  std::size_t i = 0;
  while (i < g.size()) {
    while (i < g.size() && g[i] == '/') ++i;
    const std::size_t j = std::min(g.find('/', i), g.size());
    if (j > i) {
      if (out.size() > 1) out += '/';
      out.append(g, i, j - i);
    }
    i = j;
  }
  return out;
}

// The seal (see the top): its line starts the file's 512-byte user block.
constexpr std::size_t kUserBlock = 512;
constexpr const char* kSealMagic = "GPTCKPT1";

#if GPT_HAVE_HDF5

// ----------------------------------------------------------------------------------- XXH64

// XXH64 (seed 0) through libxxhash's streaming API, with the helpers the checksum stream uses.
class Xxh64 {
 public:
  Xxh64() : state_(XXH64_createState()) {
    if (!state_ || XXH64_reset(state_, 0) != XXH_OK) throw std::bad_alloc();
  }
  ~Xxh64() { XXH64_freeState(state_); }
  Xxh64(const Xxh64&) = delete;
  Xxh64& operator=(const Xxh64&) = delete;
  void update(const void* data, std::size_t len) { XXH64_update(state_, data, len); }
  void u8(std::uint8_t v) { update(&v, 1); }
  void u64(std::uint64_t v) { update(&v, 8); }
  void str(const std::string& s) {
    u64(s.size());
    update(s.data(), s.size());
  }
  std::uint64_t digest() const { return XXH64_digest(state_); }

 private:
  XXH64_state_t* state_;
};

struct TensorView {
  const std::string* path;
  const std::vector<std::int64_t>* shape;
  const float* data;
  std::size_t count;
};

// The checksum over tensors (sorted by path) and attributes (map order), as documented on top.
std::string checksum_hex(const std::vector<TensorView>& tensors, const std::map<std::string, Attrs>& attrs) {
  Xxh64 h;
  for (const TensorView& t : tensors) {
    h.u8('T');
    h.str(*t.path);
    h.u64(t.shape->size());
    for (std::int64_t d : *t.shape) h.u64(static_cast<std::uint64_t>(d));
    h.u64(t.count * sizeof(float));
    h.update(t.data, t.count * sizeof(float));
  }
  for (const auto& [group, group_attrs] : attrs) {
    for (const auto& [name, value] : group_attrs) {
      if (group == "/" && name == kChecksumAttr) continue;
      h.u8('A');
      h.str(group);
      h.str(name);
      if (const auto* i = std::get_if<std::int64_t>(&value)) {
        h.u8('i');
        h.u64(static_cast<std::uint64_t>(*i));
      } else if (const auto* d = std::get_if<double>(&value)) {
        h.u8('d');
        h.u64(std::bit_cast<std::uint64_t>(*d));
      } else {
        h.u8('s');
        h.str(std::get<std::string>(value));
      }
    }
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h.digest()));
  return out;
}

// ------------------------------------------------------------------------------------ seal

// XXH64 of the bytes of the open file `fd` (of `size` bytes) after the user block, as 16 hex
// digits. Mapped, not read: the file is usually still in the page cache.
std::string digest_after_user_block(int fd, std::size_t size, const fs::path& path) {
  Xxh64 h;
  if (size > kUserBlock) {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) throw std::runtime_error("cannot map " + path.string() + ": " + std::strerror(errno));
    ::madvise(map, size, MADV_SEQUENTIAL);
    h.update(static_cast<const unsigned char*>(map) + kUserBlock, size - kUserBlock);
    ::munmap(map, size);
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h.digest()));
  return out;
}

// Checks a file's seal before HDF5 sees it; empty when it holds, else what is wrong. A file with
// HDF5's signature at byte 0 predates the seal and passes (its checksum is checked later).
std::string seal_problem(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::string("cannot open it: ") + std::strerror(errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::string("cannot stat it: ") + std::strerror(errno);
  const auto size = static_cast<std::size_t>(st.st_size);
  char block[kUserBlock] = {};
  const ssize_t got = ::pread(fd, block, sizeof block, 0);
  if (got < 0) return std::string("cannot read it: ") + std::strerror(errno);
  constexpr char kHdf5Signature[] = "\x89HDF\r\n\x1a\n";
  if (got >= 8 && std::memcmp(block, kHdf5Signature, 8) == 0) return "";  // unsealed, older
  const std::string magic = kSealMagic;
  if (static_cast<std::size_t>(got) < magic.size() + 1 || std::memcmp(block, magic.data(), magic.size()) != 0 ||
      block[magic.size()] != ' ')
    return "not a checkpoint of this trainer (no seal, no HDF5 signature), or its first bytes are damaged";
  // The line, then NULs to the end of the block: every byte of it is accounted for.
  const char* end = static_cast<const char*>(std::memchr(block, '\n', sizeof block));
  if (static_cast<std::size_t>(got) < kUserBlock || !end ||
      std::any_of(end + 1, static_cast<const char*>(block) + sizeof block, [](char c) { return c != '\0'; }))
    return "its seal line is damaged";
  const std::string line(static_cast<const char*>(block),
                         end);  // parsed as a string: the block holds no NUL before `end`
  char digest[17] = {};
  unsigned long long sealed_size = 0;
  int parsed = 0;
  if (std::sscanf(line.c_str() + magic.size(), " %16[0-9a-f] %llu%n", digest, &sealed_size, &parsed) != 2 ||
      std::strlen(digest) != 16 || magic.size() + static_cast<std::size_t>(parsed) != line.size())
    return "its seal line is damaged";
  if (sealed_size != size)
    return "truncated or extended: " + std::to_string(size) + " bytes, sealed at " + std::to_string(sealed_size);
  std::string computed;
  try {
    computed = digest_after_user_block(fd, size, path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  if (computed != digest) return std::string("damaged: its bytes give digest ") + computed + ", sealed as " + digest;
  return "";
}

// ----------------------------------------------------------------------------- HDF5 helpers

// Debian's serial HDF5 is not thread-safe: every use of it holds this lock. Process-wide, as HDF5
// is: its state is one per process, whoever uses it.
std::mutex g_hdf5_mutex;

// Silences HDF5's printing of its error stack (once per process): failures become our messages.
// HDF5's exit handler is turned off too: after a failed write (a full disk) it would try to close
// whatever the failure left half-closed and crash in H5F__close_cb; every file we open is closed
// by its Hid, so the handler has nothing left to do.
void init_hdf5() {
  static std::once_flag once;
  std::call_once(once, [] {
    H5dont_atexit();
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  });
}

// One line out of HDF5's description of a failure: the system's own message when there is one
// (a failed write's description spans lines and ends in "error message = 'No space left on
// device'"), else the description with its line breaks folded.
std::string one_line(const std::string& desc) {
  constexpr std::string_view marker = "error message = '";
  if (const std::size_t at = desc.find(marker); at != std::string::npos) {
    const std::size_t begin = at + marker.size();
    const std::size_t end = desc.find('\'', begin);
    if (end != std::string::npos && end > begin) return desc.substr(begin, end - begin);
  }
  std::string out;
  for (char c : desc) {
    if (c == '\n' || c == '\r') c = ' ';
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The innermost message on HDF5's error stack ("truncated file: eof = ...", "file signature not
// found", "No space left on device"), on one line, then clears it; empty when there is none.
std::string hdf5_detail() {
  std::string detail;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* err, void* out) -> herr_t {
        if (n == 0 && err->desc && *err->desc) *static_cast<std::string*>(out) = err->desc;
        return 0;
      },
      &detail);
  H5Eclear2(H5E_DEFAULT);
  return one_line(detail);
}

// Owns one HDF5 identifier; closes it with the function for its kind.
class Hid {
 public:
  Hid() = default;
  explicit Hid(hid_t id) : id_(id) {}
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  Hid(Hid&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      close();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  ~Hid() { close(); }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now; false when HDF5 reports an error (for the file: data not written).
  bool close() {
    if (id_ < 0) return true;
    herr_t r = 0;
    switch (H5Iget_type(id_)) {
      case H5I_FILE:
        r = H5Fclose(id_);
        break;
      case H5I_GROUP:
        r = H5Gclose(id_);
        break;
      case H5I_DATASET:
        r = H5Dclose(id_);
        break;
      case H5I_DATASPACE:
        r = H5Sclose(id_);
        break;
      case H5I_DATATYPE:
        r = H5Tclose(id_);
        break;
      case H5I_ATTR:
        r = H5Aclose(id_);
        break;
      case H5I_GENPROP_LST:
        r = H5Pclose(id_);
        break;
      default:
        r = H5Oclose(id_);
        break;
    }
    id_ = H5I_INVALID_HID;
    return r >= 0;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// ---------------------------------------------------------------------------------- writing

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

void fsync_path(const fs::path& p, bool directory) {
  const int fd = ::open(p.c_str(), O_RDONLY | (directory ? O_DIRECTORY : 0));
  if (fd < 0) throw WriteError("cannot open " + p.string() + " to fsync it: " + std::strerror(errno));
  const int r = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (r != 0) throw WriteError("fsync of " + p.string() + " failed: " + std::strerror(err));
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

// Writes the seal line into the user block of the finished file at `tmp`.
void seal(const fs::path& tmp) {
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw WriteError("cannot open " + tmp.string() + " to seal it: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(kUserBlock))
    throw WriteError("cannot seal " + tmp.string() + ": it is shorter than its user block");
  const std::string digest = digest_after_user_block(fd, static_cast<std::size_t>(st.st_size), tmp);
  std::string block = std::string(kSealMagic) + " " + digest + " " + std::to_string(st.st_size) + "\n";
  block.resize(kUserBlock, '\0');
  if (::pwrite(fd, block.data(), block.size(), 0) != static_cast<ssize_t>(block.size()))
    throw WriteError("cannot seal " + tmp.string() + ": " + std::strerror(errno));
}

// Writes everything to `tmp` (created exclusively), closes it, seals it and fsyncs it.
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
  seal(tmp);
  fsync_path(tmp, false);
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

// ---------------------------------------------------------------------------------- reading

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
        try {
          Hid attr(H5Aopen(obj, name, H5P_DEFAULT));
          if (!attr.valid()) read_fail("cannot open " + where);
          (*c.st->attrs)[*c.gname][name] = read_attr(attr.get(), where);
        } catch (const std::exception& e) {
          if (c.st->error.empty()) c.st->error = e.what();
          return -1;
        }
        return 0;
      },
      &ctx);
  if (!st.error.empty()) throw std::runtime_error(st.error);
  if (r < 0) read_fail("cannot list the attributes of group " + gname);
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
        try {
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
        } catch (const std::exception& e) {
          if (c.st->error.empty()) c.st->error = e.what();
          return -1;
        }
        return 0;
      },
      &ctx);
  if (!st.error.empty()) throw std::runtime_error(st.error);
  if (r < 0) read_fail("cannot list group " + gname);
}

#endif  // GPT_HAVE_HDF5

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
  const fs::path tmp = temporary_path(path);
  try {
    std::error_code ec;
    fs::create_directories(dir, ec);
    const std::lock_guard hdf5_lock(g_hdf5_mutex);
    if (ec) throw WriteError("cannot create folder " + dir.string() + ": " + ec.message());
    fs::remove(tmp, ec);  // a leftover of an earlier process with our pid
    write_hdf5(tmp, sorted, norm);
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw WriteError("cannot rename " + tmp.string() + " to " + path.string() + ": " + std::strerror(errno));
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw std::runtime_error("cannot write checkpoint " + path.string() + ": " + e.what());
  }
  // The rename is done; the folder's fsync makes it durable. A failure here leaves a complete file.
  try {
    fsync_path(dir, true);
  } catch (const std::exception& e) {
    throw std::runtime_error("checkpoint " + path.string() + " written but not made durable: " + e.what());
  }
#else
  (void)attrs;
  (void)tensors;
  throw_no_hdf5("write checkpoint " + path.string());
#endif
}

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
  const std::lock_guard hdf5_lock(g_hdf5_mutex);
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
std::string checkpoint_identity(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char block[kUserBlock] = {};
  const ssize_t got = ::pread(fd, block, sizeof block, 0);
  ::close(fd);
  if (got <= 0) return "";
  const std::string_view head(block, static_cast<std::size_t>(got));
  const std::size_t end = head.find('\n');
  if (end == std::string_view::npos || !head.starts_with(std::string(kSealMagic) + " ")) return "";
  return std::string(head.substr(0, end));
}

const std::vector<float>& CheckpointFile::values(const std::string& path) const {
  const auto it = tensors_.find(normalize_group(path).substr(1));
  if (it == tensors_.end()) throw CheckpointError("checkpoint " + path_.string() + ": no tensor " + path);
  return it->second.values;
}

}  // namespace gpt
