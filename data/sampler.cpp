#include "data/sampler.h"

#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/errors.h"
#include "core/rng.h"

namespace gpt {

namespace {

// Stream labels (ASCII "rand" / "epoc") keep the two modes' draws independent of each other and of
// every other user of the same seed.
constexpr std::uint64_t kRandomStream = 0x72616e64;
constexpr std::uint64_t kEpochStream = 0x65706f63;

}  // namespace

BatchSampler::BatchSampler(const TokenFile& file, Sampling mode, std::int64_t seq_len, std::uint64_t seed)
    : file_(&file), mode_(mode), seq_len_(seq_len), seed_(seed), windows_(0) {
  if (seq_len <= 0)
    throw std::invalid_argument("BatchSampler: seq_len must be positive, got " + std::to_string(seq_len));
  const auto n = static_cast<std::int64_t>(file.size());
  // Each window needs T inputs plus one more token for the last target.
  if (n < seq_len + 1)
    throw DataError("token file " + file.path().string() + " holds " + std::to_string(n) +
                    " tokens, fewer than seq_len + 1 = " + std::to_string(seq_len + 1));
  windows_ = mode == Sampling::random ? n - seq_len : (n - 1) / seq_len;
}

const std::vector<std::int64_t>& BatchSampler::permutation(std::int64_t epoch) const {
  if (epoch == cached_epoch_) return cached_perm_;
  // Fisher–Yates from the top down; the swap partner of slot i is a counter-based draw keyed by
  // (seed, epoch) with counter i, so any epoch's permutation can be rebuilt without history.
  const std::uint64_t key = rng::derive(rng::derive(seed_, kEpochStream), static_cast<std::uint64_t>(epoch));
  cached_perm_.resize(static_cast<std::size_t>(windows_));
  std::iota(cached_perm_.begin(), cached_perm_.end(), std::int64_t{0});
  for (std::int64_t i = windows_ - 1; i > 0; --i) {
    const auto j =
        static_cast<std::int64_t>(rng::below(key, static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(i + 1)));
    std::swap(cached_perm_[static_cast<std::size_t>(i)], cached_perm_[static_cast<std::size_t>(j)]);
  }
  cached_epoch_ = epoch;
  return cached_perm_;
}

std::int64_t BatchSampler::window_start(std::int64_t g) const {
  if (g < 0) throw std::invalid_argument("BatchSampler: negative sequence index " + std::to_string(g));
  if (mode_ == Sampling::random)
    return static_cast<std::int64_t>(rng::below(rng::derive(seed_, kRandomStream), static_cast<std::uint64_t>(g),
                                                static_cast<std::uint64_t>(windows_)));
  const std::int64_t epoch = g / windows_;
  const std::int64_t pos = g % windows_;
  return permutation(epoch)[static_cast<std::size_t>(pos)] * seq_len_;
}

void BatchSampler::fill(std::int64_t first, std::int64_t rows, std::int32_t* inputs, std::int32_t* targets) const {
  if (first < 0) throw std::invalid_argument("BatchSampler: negative sequence index " + std::to_string(first));
  if (rows < 0) throw std::invalid_argument("BatchSampler: negative row count " + std::to_string(rows));
  if (rows > 0 && (inputs == nullptr || targets == nullptr))
    throw std::invalid_argument("BatchSampler: null output buffer");
  const std::uint16_t* data = file_->tokens().data();
  const auto T = static_cast<std::size_t>(seq_len_);
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::uint16_t* src = data + window_start(first + r);
    std::int32_t* x = inputs + static_cast<std::size_t>(r) * T;
    std::int32_t* y = targets + static_cast<std::size_t>(r) * T;
    for (std::size_t t = 0; t < T; ++t) {
      x[t] = src[t];
      y[t] = src[t + 1];
    }
  }
}

}  // namespace gpt
