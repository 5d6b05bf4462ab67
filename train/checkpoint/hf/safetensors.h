#pragma once
// The .safetensors format of Hugging Face: an 8-byte little-endian header length N, N bytes of
// JSON naming each tensor's dtype, shape and byte range [begin, end) within the data that follows,
// then the data (row-major, little-endian). No code runs on load, unlike a pickle. Reading maps the
// file and checks the whole header against the file before any tensor is used.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace gpt {

// The 16- and 32-bit float dtypes this code reads and writes ("F32", "F16", "BF16" in the header).
enum class FloatFormat { f32, f16, bf16 };
// "F32", "F16", "BF16".
const char* safetensors_dtype(FloatFormat format);

class SafetensorsFile {
 public:
  struct Entry {
    std::string dtype;  // as the header spells it: "F32", "BF16", "I64", ...
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0, end = 0;  // byte range in the data section
  };

  // Maps `path` and checks its header: DataError naming the file (and the tensor) when it is
  // truncated, the header is not the JSON it should be, a dtype is unknown, or a tensor's byte
  // range disagrees with its dtype and shape, overlaps another or runs past the end of the file.
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, Entry>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The tensor's values as float32, from F32, F16 or BF16; DataError naming the file, the tensor
  // and its dtype for any other dtype, and std::out_of_range for a name the file lacks.
  std::vector<float> read_float32(const std::string& name) const;

 private:
  std::filesystem::path path_;
  std::map<std::string, Entry> tensors_;
  std::map<std::string, std::string> metadata_;
  const unsigned char* mapped_ = nullptr;
  std::size_t mapped_bytes_ = 0;
  const unsigned char* data_ = nullptr;  // the data section: mapped_ + 8 + header length
};

// One tensor to write: `data` holds product(shape) float32 values.
struct SafetensorsTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  const float* data = nullptr;
};

// Writes `tensors` in `format` (rounded to nearest even when narrower than float32), in the order
// given, with `metadata` as the header's "__metadata__". The file appears complete or not at all,
// and never through a link at `path` (an AtomicFile: <path>.tmp-<pid>, fsync'd, renamed).
// std::runtime_error naming the file and errno's message on an I/O failure ("No space left on device").
void write_safetensors(const std::filesystem::path& path, const std::vector<SafetensorsTensor>& tensors,
                       FloatFormat format, const std::map<std::string, std::string>& metadata);

}  // namespace gpt
