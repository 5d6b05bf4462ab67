#pragma once
// Counter-based randomness: every random number is a pure function of (seed, stream, counter),
// so init, dropout and batch sampling are reproducible and need no saved generator state to
// resume. SplitMix64's finaliser gives well-mixed 64-bit outputs from consecutive counters.
#include <cmath>
#include <cstdint>

// Callable from CUDA kernels too (dropout masks must be the same on every backend).
#ifdef __CUDACC__
#define GPT_HOST_DEVICE __host__ __device__
#else
#define GPT_HOST_DEVICE
#endif

namespace gpt::rng {

GPT_HOST_DEVICE constexpr std::uint64_t mix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Derives an independent key from a parent key and a label (layer, site, step, ...).
GPT_HOST_DEVICE constexpr std::uint64_t derive(std::uint64_t key, std::uint64_t label) {
  return mix64(key ^ mix64(label));
}

GPT_HOST_DEVICE constexpr std::uint64_t bits(std::uint64_t key, std::uint64_t counter) {
  return mix64(key + mix64(counter));
}

// Uniform in [0, 1) with 24 random bits: exact in float and double.
GPT_HOST_DEVICE inline double uniform(std::uint64_t key, std::uint64_t counter) {
  return static_cast<double>(bits(key, counter) >> 40) * (1.0 / 16777216.0);
}

// Uniform integer in [0, n): a 128-bit multiply-shift, unbiased enough for n << 2^64.
inline std::uint64_t below(std::uint64_t key, std::uint64_t counter, std::uint64_t n) {
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(bits(key, counter)) * n) >> 64);
}

// Standard normal by Box-Muller from two counters.
inline double normal(std::uint64_t key, std::uint64_t counter) {
  const double u1 = (static_cast<double>(bits(key, 2 * counter) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  const double u2 = static_cast<double>(bits(key, 2 * counter + 1) >> 11) * (1.0 / 9007199254740992.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace gpt::rng
