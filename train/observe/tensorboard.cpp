#include "train/observe/tensorboard.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "core/files/atomic_file.h"
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

// tensorboard.Event: wall_time 1 (double), step 2 (int64), file_version 3, summary 5, session_log 6.
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
  put_bytes(field, 6, log);
  return event(step, field);
}

std::uint32_t masked_crc(const std::string& bytes) {
  const std::uint32_t c = crc32c(bytes);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

// ---- reading back our own files (for the resume cut) ----
struct Record {
  std::string bytes;  // the whole framed record
  std::int64_t step = 0;
};

bool read_varint(const std::string& s, std::size_t& i, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && i < s.size(); shift += 7) {
    const auto b = static_cast<std::uint8_t>(s[i++]);
    v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// Event.step, or nullopt for a payload that is not a well-formed message.
std::optional<std::int64_t> step_of(const std::string& payload) {
  std::int64_t step = 0;
  for (std::size_t i = 0; i < payload.size();) {
    std::uint64_t key = 0, v = 0;
    if (!read_varint(payload, i, key)) return std::nullopt;
    switch (key & 7) {
      case kVarint:
        if (!read_varint(payload, i, v)) return std::nullopt;
        if (key >> 3 == 2) step = static_cast<std::int64_t>(v);
        break;
      case kFixed64:
        i += 8;
        break;
      case kFixed32:
        i += 4;
        break;
      case kBytes:
        if (!read_varint(payload, i, v) || v > payload.size() - i) return std::nullopt;
        i += v;
        break;
      default:
        return std::nullopt;
    }
    if (i > payload.size()) return std::nullopt;
  }
  return step;
}

// Every record up to the first torn or corrupt one (a killed writer's last).
std::vector<Record> read_records(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<Record> records;
  while (true) {
    char header[12];
    if (!in.read(header, sizeof header)) break;
    std::uint64_t length = 0;
    std::uint32_t length_crc = 0;
    std::memcpy(&length, header, 8);
    std::memcpy(&length_crc, header + 8, 4);
    if (masked_crc(std::string(header, 8)) != length_crc || length > (std::uint64_t{1} << 30)) break;
    std::string payload(length, '\0');
    char footer[4];
    if (!in.read(payload.data(), static_cast<std::streamsize>(length)) || !in.read(footer, 4)) break;
    std::uint32_t payload_crc = 0;
    std::memcpy(&payload_crc, footer, 4);
    const std::optional<std::int64_t> step = step_of(payload);
    if (masked_crc(payload) != payload_crc || !step) break;
    records.push_back({std::string(header, sizeof header) + payload + std::string(footer, 4), *step});
  }
  return records;
}

bool is_event_file(const std::filesystem::path& p) {
  return p.filename().string().find("tfevents") != std::string::npos;
}

// Rewrites `file` without its events after `last_step` (and without a torn tail); a failure leaves
// the file as it was.
void cut_after(const std::filesystem::path& file, std::int64_t last_step) {
  const std::vector<Record> records = read_records(file);
  std::string kept;
  std::size_t total = 0;
  for (const Record& r : records) {
    total += r.bytes.size();
    if (r.step <= last_step) kept += r.bytes;
  }
  if (kept.size() == total && total == std::filesystem::file_size(file)) return;  // nothing to drop
  write_file_atomically(file, kept);
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

std::vector<std::int64_t> event_steps(const std::filesystem::path& file) {
  std::vector<std::int64_t> steps;
  for (const Record& r : read_records(file)) steps.push_back(r.step);
  return steps;
}

TensorBoardWriter::TensorBoardWriter(const std::filesystem::path& dir, std::optional<std::int64_t> resumed_step) {
  std::filesystem::create_directories(dir);
  if (resumed_step) {
    for (const auto& entry : std::filesystem::directory_iterator(dir))
      if (entry.is_regular_file() && is_event_file(entry.path())) cut_after(entry.path(), *resumed_step);
  }
  path_ = new_event_file(dir);
  out_.open(path_, std::ios::binary | std::ios::trunc);
  if (!out_ || !write_event(file_version_event()) ||
      (resumed_step && !write_event(session_start_event(*resumed_step + 1))))
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
