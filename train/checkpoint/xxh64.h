#pragma once
// XXH64 (seed 0) through libxxhash's streaming API: the hash of both the checkpoint's checksum
// attribute (checkpoint_checksum.h) and its seal (checkpoint_seal.h), chosen for speed over
// gigabytes of tensors; tests/reference/check_checkpoint.py recomputes both independently.
// Internal to gpt_checkpoint, in builds with HDF5 (which link libxxhash with it).
#include <xxhash.h>

#include <cstdint>
#include <cstdio>
#include <new>
#include <string>

namespace gpt {

// Why: the checkpoint's checksum and seal are defined as XXH64 (seed 0), fast over gigabytes.
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

// 16 lowercase hex digits, the form both the checksum and the seal are written in.
inline std::string hex16(std::uint64_t v) {
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(v));
  return out;
}

}  // namespace gpt
