#include "train/checkpoint/hf/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <system_error>

#include "core/errors.h"
#include "core/file_kind.h"
#include "core/files/atomic_file.h"
#include "core/half_float.h"

namespace gpt {
namespace {

// The reference implementation refuses headers above 100 MB; a real one is a few tens of KB.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

// Bytes per element of every dtype the format defines; 0 for a name it does not.
std::uint64_t dtype_bytes(const std::string& dtype) {
  static const std::map<std::string, std::uint64_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8}};
  const auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

std::string range_text(std::uint64_t begin, std::uint64_t end) {
  // Appended, not "[" + ...: GCC 12 warns (-Wrestrict, a false positive) on that once inlined.
  std::string text = "[";
  text.append(std::to_string(begin)).append(", ").append(std::to_string(end)).append(")");
  return text;
}

std::uint64_t read_u64_le(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// A non-negative integer of the header, or DataError naming `what`.
std::uint64_t header_count(const nlohmann::json& v, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  throw DataError(what + " is " + v.dump() + ", not a non-negative integer");
}

}  // namespace

const char* safetensors_dtype(FloatFormat format) {
  switch (format) {
    case FloatFormat::f32:
      return "F32";
    case FloatFormat::f16:
      return "F16";
    case FloatFormat::bf16:
      return "BF16";
  }
  return "?";
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path) {
  const std::string file = path.string();
  // Refused before open(), which blocks on a FIFO; O_NONBLOCK in case the path changes in between.
  if (const std::string problem = not_a_regular_file(path); !problem.empty()) throw DataError(file + " " + problem);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw DataError(file + ": cannot be opened (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw DataError(file + " is not a regular file" + special_file_kind(st.st_mode));
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw DataError(file + ": " + std::to_string(size) +
                    " bytes, shorter than the 8-byte header length of a safetensors file (truncated?)");
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw DataError(file + ": cannot be mapped (" + std::strerror(errno) + ")");
  mapped_ = static_cast<const unsigned char*>(m);
  mapped_bytes_ = size;
  try {
    const std::uint64_t header_bytes = read_u64_le(mapped_);
    if (header_bytes > kMaxHeaderBytes || header_bytes > size - 8)
      throw DataError(file + ": the header length says " + std::to_string(header_bytes) + " bytes, but the file has " +
                      std::to_string(size - 8) + " after the length (truncated, or not a safetensors file)");
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(mapped_ + 8, mapped_ + 8 + header_bytes);
    } catch (const nlohmann::json::exception& e) {
      throw DataError(file + ": the header is not valid JSON (" + e.what() + ")");
    }
    if (!header.is_object()) throw DataError(file + ": the header is " + header.type_name() + ", not a JSON object");
    data_ = mapped_ + 8 + header_bytes;
    const std::uint64_t data_bytes = size - 8 - header_bytes;
    for (const auto& [name, value] : header.items()) {
      if (name == "__metadata__") {
        if (!value.is_object()) throw DataError(file + ": __metadata__ is not a JSON object");
        for (const auto& [key, text] : value.items())
          if (text.is_string()) metadata_[key] = text.get<std::string>();
        continue;
      }
      const std::string where = file + ": tensor " + name;
      if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") || !value.contains("data_offsets"))
        throw DataError(where + ": its header entry needs dtype, shape and data_offsets");
      Entry e;
      if (!value["dtype"].is_string()) throw DataError(where + ": dtype is not a string");
      e.dtype = value["dtype"].get<std::string>();
      const std::uint64_t element_bytes = dtype_bytes(e.dtype);
      if (element_bytes == 0) throw DataError(where + ": unknown dtype " + e.dtype);
      if (!value["shape"].is_array()) throw DataError(where + ": shape is not an array");
      std::uint64_t numel = 1;
      for (const auto& d : value["shape"]) {
        const std::uint64_t n = header_count(d, where + ": a dimension");
        if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
            (n != 0 && numel > std::numeric_limits<std::uint64_t>::max() / 8 / n))
          throw DataError(where + ": shape " + value["shape"].dump() + " is too large");
        numel *= n;
        e.shape.push_back(static_cast<std::int64_t>(n));
      }
      const auto& offsets = value["data_offsets"];
      if (!offsets.is_array() || offsets.size() != 2) throw DataError(where + ": data_offsets is not [begin, end]");
      e.begin = header_count(offsets[0], where + ": data_offsets[0]");
      e.end = header_count(offsets[1], where + ": data_offsets[1]");
      if (e.end < e.begin)
        throw DataError(where + ": data_offsets " + range_text(e.begin, e.end) + " ends before it begins");
      if (e.end > data_bytes)
        throw DataError(where + ": data_offsets " + range_text(e.begin, e.end) + " run past the data's " +
                        std::to_string(data_bytes) + " bytes (a truncated file, or a header that lies)");
      if (e.end - e.begin != numel * element_bytes)
        throw DataError(where + ": data_offsets " + range_text(e.begin, e.end) + " hold " +
                        std::to_string(e.end - e.begin) + " bytes, but " + e.dtype + " of shape " +
                        value["shape"].dump() + " needs " + std::to_string(numel * element_bytes));
      tensors_.emplace(name, std::move(e));
    }
    std::vector<std::pair<const std::string*, const Entry*>> by_offset;
    for (const auto& [name, e] : tensors_) by_offset.emplace_back(&name, &e);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
    for (std::size_t i = 1; i < by_offset.size(); ++i)
      if (by_offset[i].second->begin < by_offset[i - 1].second->end)
        throw DataError(file + ": tensors " + *by_offset[i - 1].first + " " +
                        range_text(by_offset[i - 1].second->begin, by_offset[i - 1].second->end) + " and " +
                        *by_offset[i].first + " " + range_text(by_offset[i].second->begin, by_offset[i].second->end) +
                        " overlap (a header that lies)");
  } catch (...) {
    ::munmap(const_cast<unsigned char*>(mapped_), mapped_bytes_);
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  ::munmap(const_cast<unsigned char*>(mapped_), mapped_bytes_);
}

std::vector<float> SafetensorsFile::read_float32(const std::string& name) const {
  const Entry& e = tensors_.at(name);
  const unsigned char* p = data_ + e.begin;
  std::vector<float> out;
  if (e.dtype == "F32") {
    out.resize((e.end - e.begin) / 4);
    std::memcpy(out.data(), p, e.end - e.begin);  // the data need not be 4-byte aligned
  } else if (e.dtype == "F16" || e.dtype == "BF16") {
    out.resize((e.end - e.begin) / 2);
    const bool half = e.dtype == "F16";
    for (std::size_t i = 0; i < out.size(); ++i) {
      std::uint16_t bits;
      std::memcpy(&bits, p + 2 * i, 2);
      out[i] = half ? half_bits_to_float(bits) : bf16_bits_to_float(bits);
    }
  } else {
    throw DataError(path_.string() + ": tensor " + name + " is " + e.dtype +
                    "; weights are read from F32, F16 or BF16 tensors");
  }
  return out;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<SafetensorsTensor>& tensors,
                       FloatFormat format, const std::map<std::string, std::string>& metadata) {
  const std::uint64_t element_bytes = format == FloatFormat::f32 ? 4 : 2;
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const SafetensorsTensor& t : tensors) {
    std::uint64_t numel = 1;
    for (std::int64_t d : t.shape) numel *= static_cast<std::uint64_t>(d);
    header[t.name] = {{"dtype", safetensors_dtype(format)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + numel * element_bytes}}};
    offset += numel * element_bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data then starts 8-byte aligned, as the reference writes it

  AtomicFile out(path);
  unsigned char length[8];
  for (int i = 0; i < 8; ++i)
    length[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
  out.write(length, 8);
  out.write(text);
  std::vector<std::uint16_t> narrow;
  for (const SafetensorsTensor& t : tensors) {
    std::size_t numel = 1;
    for (std::int64_t d : t.shape) numel *= static_cast<std::size_t>(d);
    if (format == FloatFormat::f32) {
      out.write(t.data, numel * 4);
      continue;
    }
    narrow.resize(numel);
    for (std::size_t i = 0; i < numel; ++i)
      narrow[i] = format == FloatFormat::f16 ? float_to_half_bits(t.data[i]) : float_to_bf16_bits(t.data[i]);
    out.write(narrow.data(), numel * 2);
  }
  out.commit();
}

}  // namespace gpt
