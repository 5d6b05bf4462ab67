#pragma once
// FNV-1a, 64-bit: a small, order-sensitive hash for parameter names (keying each one's
// initialisation stream, core/model/gpt.cpp) and the ranks' parameter checksums
// (dist/consistency.cpp); not for anything adversarial. The offset basis is
// 1469598103934665603, one digit short of FNV's published 14695981039346656037: kept, because
// every parameter's initialisation stream is keyed by this hash of its name, so changing it would
// change every run's initial weights.
#include <cstdint>
#include <span>
#include <string_view>

namespace gpt::fnv1a {

inline constexpr std::uint64_t kOffsetBasis = 1469598103934665603ull;
inline constexpr std::uint64_t kPrime = 1099511628211ull;

constexpr std::uint64_t step(std::uint64_t h, std::uint64_t unit) {
  return (h ^ unit) * kPrime;
}

// One step per byte (parameter names).
constexpr std::uint64_t bytes(std::string_view s) {
  std::uint64_t h = kOffsetBasis;
  for (const char c : s) h = step(h, static_cast<unsigned char>(c));
  return h;
}

// One step per 64-bit word (the parameter checksum): 8 times fewer steps over a large buffer;
// not the same value as bytes() of that buffer.
constexpr std::uint64_t words(std::span<const std::uint64_t> w) {
  std::uint64_t h = kOffsetBasis;
  for (const std::uint64_t x : w) h = step(h, x);
  return h;
}

}  // namespace gpt::fnv1a
