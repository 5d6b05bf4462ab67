#pragma once
// The checkpoint's root attribute "checksum": what CheckpointFile compares after HDF5 has parsed
// the file, so that a file whose bytes are intact but whose contents are not what was written
// (and every file older than the seal) is refused. 16 lowercase hex digits of XXH64 (seed 0) over
// this byte stream, integers little-endian:
//   for each tensor, paths sorted bytewise (no leading '/'):
//     'T', u64 len(path), path, u64 rank, i64 dims..., u64 byte count, float32 LE data
//   for each group, sorted ("/", "/data", "/optim", ...), for each attribute, names sorted,
//   except the root's "checksum":
//     'A', u64 len(group), group, u64 len(name), name, then
//       'i' i64 value | 'd' IEEE-754 binary64 bits as u64 | 's' u64 len, UTF-8 bytes
// tests/reference/check_checkpoint.py recomputes it independently in Python. Internal to
// gpt_checkpoint.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "train/checkpoint/checkpoint_file.h"

namespace gpt {

// Why: the contents HDF5 parsed are what was written (the only check an unsealed, older file has).
inline constexpr const char* kChecksumAttr = "checksum";

// "/a/b/" or "a/b" -> "/a/b"; "" or "/" -> "/": the group names the checksum hashes.
std::string normalize_group(const std::string& g);

struct TensorView {
  const std::string* path;
  const std::vector<std::int64_t>* shape;
  const float* data;
  std::size_t count;
};

// The checksum over tensors (sorted by path) and attributes (map order), as documented on top.
std::string checksum_hex(const std::vector<TensorView>& tensors, const std::map<std::string, Attrs>& attrs);

}  // namespace gpt
