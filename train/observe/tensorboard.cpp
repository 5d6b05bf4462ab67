#include "train/observe/tensorboard.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "train/observe/crc32c.h"

namespace gpt {
namespace {

// ---- protocol buffer encoding: only the wire types and fields written below ----
enum Wire : std::uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}
void put_key(std::string& out, std::uint32_t field, Wire wire) {
  put_varint(out, (field << 3) | wire);
}
template <class T>
void put_little_endian(std::string& out, T value) {
  static_assert(std::endian::native == std::endian::little, "event files are little-endian");
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}
void put_bytes(std::string& out, std::uint32_t field, const std::string& bytes) {
  put_key(out, field, kBytes);
  put_varint(out, bytes.size());
  out += bytes;
}

// tensorboard.Event: wall_time 1 (double), step 2 (int64), file_version 3, summary 5, session_log 7.
std::string event(std::int64_t step, const std::string& field_and_value = {}) {
  std::string e;
  put_key(e, 1, kFixed64);
  put_little_endian(e, std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  put_key(e, 2, kVarint);
  put_varint(e, static_cast<std::uint64_t>(step));
  return e + field_and_value;
}

std::string file_version_event() {
  std::string field;
  put_bytes(field, 3, "brain.Event:2");
  return event(0, field);
}

// SessionLog{status: START}: TensorBoard drops what it holds at and after this step.
std::string session_start_event(std::int64_t step) {
  std::string log, field;
  put_key(log, 1, kVarint);
  put_varint(log, 1);
  put_bytes(field, 7, log);
  return event(step, field);
}

std::uint32_t masked_crc(const std::string& bytes) {
  const std::uint32_t c = crc32c(bytes);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

bool is_event_file(const std::filesystem::path& p) {
  return p.filename().string().find("tfevents") != std::string::npos;
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || !name[0]) return "localhost";
  return name;
}

// events.out.tfevents.<seconds>.<host>.<pid>, as TensorFlow names them, with the seconds raised
// when needed so the name sorts after every event file already in `dir`.
std::filesystem::path new_event_file(const std::filesystem::path& dir) {
  std::string last;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (is_event_file(entry.path())) last = std::max(last, entry.path().filename().string());
  auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  // Appended piece by piece: GCC 12 warns (-Wrestrict, falsely) about "." + std::string&&.
  std::string tail(".");
  tail += host_name();
  tail += '.';
  tail += std::to_string(getpid());
  std::string name;
  do {
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "%010lld", static_cast<long long>(seconds++));
    name = "events.out.tfevents." + std::string(stamp) + tail;
  } while (name <= last);
  return dir / name;
}

}  // namespace

std::string tfrecord(const std::string& payload) {
  std::string r;
  const std::uint64_t length = payload.size();
  std::string length_bytes;
  put_little_endian(length_bytes, length);
  r += length_bytes;
  put_little_endian(r, masked_crc(length_bytes));
  r += payload;
  put_little_endian(r, masked_crc(payload));
  return r;
}

TensorBoardWriter::TensorBoardWriter(const std::filesystem::path& dir, std::optional<std::int64_t> resumed_step) {
  std::filesystem::create_directories(dir);
  path_ = new_event_file(dir);
  out_.open(path_, std::ios::binary | std::ios::trunc);
  const std::int64_t first_step = resumed_step ? *resumed_step + 1 : 0;
  if (!out_ || !write_event(file_version_event()) || !write_event(session_start_event(first_step)))
    throw std::runtime_error("cannot write " + path_.string());
}

bool TensorBoardWriter::write_event(const std::string& e) {
  out_ << tfrecord(e);
  out_.flush();  // a TensorBoard watching the folder sees each step as it is logged
  return static_cast<bool>(out_);
}

bool TensorBoardWriter::scalars(std::int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  // Summary{value: [Value{tag 1, simple_value 2}]}
  std::string summary;
  for (const auto& [tag, v] : values) {
    std::string value;
    put_bytes(value, 1, tag);
    put_key(value, 2, kFixed32);
    put_little_endian(value, static_cast<float>(v));
    put_bytes(summary, 1, value);
  }
  std::string field;
  put_bytes(field, 5, summary);
  return write_event(event(step, field));
}

bool TensorBoardWriter::text(std::int64_t step, const std::string& tag, const std::string& markdown) {
  // Value{tag 1, metadata 9: {plugin_data 1: {plugin_name 1: "text"}}, tensor 8: a DT_STRING (7)
  // scalar: {dtype 1, tensor_shape 2: {}, string_val 8}}
  std::string plugin, metadata, tensor, shape, value, summary, field;
  put_bytes(plugin, 1, "text");
  put_bytes(metadata, 1, plugin);
  put_key(tensor, 1, kVarint);
  put_varint(tensor, 7);
  put_bytes(tensor, 2, shape);
  put_bytes(tensor, 8, markdown);
  put_bytes(value, 1, tag);
  put_bytes(value, 9, metadata);
  put_bytes(value, 8, tensor);
  put_bytes(summary, 1, value);
  put_bytes(field, 5, summary);
  return write_event(event(step, field));
}

}  // namespace gpt
