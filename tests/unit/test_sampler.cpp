// BatchSampler: window ranges, determinism in (seed, g), epoch coverage, and fill() contents.
#include "data/sampler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/rng.h"
#include "tests/support/temp_dir_test.h"

namespace gpt {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kVocab = 50257;

class SamplerTest : public test::TempDirTest {
 protected:
  // Raw file whose token i is i (mod the vocabulary), so a window's contents reveal its start.
  fs::path write_counting(const std::string& name, std::size_t n) {
    const fs::path p = dir_ / name;
    std::vector<char> b(2 * n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto t = static_cast<std::uint16_t>(i % kVocab);
      b[2 * i] = static_cast<char>(t & 0xFF);
      b[2 * i + 1] = static_cast<char>(t >> 8);
    }
    std::ofstream f(p, std::ios::binary);
    f.write(b.data(), static_cast<std::streamsize>(b.size()));
    EXPECT_TRUE(f.good());
    return p;
  }
};

TEST_F(SamplerTest, RandomWindowsAreInRangeAndCoverBothEnds) {
  const std::int64_t n = 1000, T = 16;
  TokenFile f(write_counting("r.bin", n), kVocab);
  BatchSampler s(f, Sampling::random, T, 42);
  EXPECT_EQ(s.windows_per_epoch(), n - T);
  std::int64_t lo = n, hi = -1;
  double sum = 0;
  const int draws = 100000;
  for (std::int64_t g = 0; g < draws; ++g) {
    const std::int64_t st = s.window_start(g);
    ASSERT_GE(st, 0);
    ASSERT_LE(st + T + 1, n) << "target window runs past the end at g=" << g;
    lo = std::min(lo, st);
    hi = std::max(hi, st);
    sum += static_cast<double>(st);
  }
  // 100k draws over 984 starts: both extremes are hit (catches off-by-one in the range).
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, n - T - 1);
  EXPECT_NEAR(sum / draws, static_cast<double>(n - T - 1) / 2, 5.0);
}

TEST_F(SamplerTest, RandomStartMatchesDocumentedFormula) {
  // Pinned so that checkpoints written by one build resume on the same windows in another.
  const std::int64_t n = 5000, T = 64;
  const std::uint64_t seed = 1234567;
  TokenFile f(write_counting("f.bin", n), kVocab);
  BatchSampler s(f, Sampling::random, T, seed);
  for (std::int64_t g : {0, 1, 2, 999, 123456789}) {
    const auto want =
        rng::below(rng::derive(seed, 0x72616e64), static_cast<std::uint64_t>(g), static_cast<std::uint64_t>(n - T));
    EXPECT_EQ(s.window_start(g), static_cast<std::int64_t>(want)) << "g=" << g;
  }
}

TEST_F(SamplerTest, SameSeedSameWindowsDifferentSeedDifferent) {
  TokenFile f(write_counting("s.bin", 4000), kVocab);
  for (Sampling mode : {Sampling::random, Sampling::epoch}) {
    BatchSampler a(f, mode, 32, 7), b(f, mode, 32, 7), c(f, mode, 32, 8);
    std::vector<std::int64_t> wa, wb, wc;
    for (std::int64_t g = 0; g < 200; ++g) {
      wa.push_back(a.window_start(g));
      wc.push_back(c.window_start(g));
    }
    // b queried in reverse order: windows are a pure function of (seed, g), not of call history.
    for (std::int64_t g = 199; g >= 0; --g) wb.insert(wb.begin(), b.window_start(g));
    EXPECT_EQ(wa, wb);
    EXPECT_NE(wa, wc);
  }
}

TEST_F(SamplerTest, EpochVisitsEveryWindowOncePerEpochInNewOrder) {
  const std::int64_t n = 1001, T = 10;  // (n-1)/T = 100 windows exactly
  TokenFile f(write_counting("e.bin", n), kVocab);
  BatchSampler s(f, Sampling::epoch, T, 99);
  const std::int64_t W = s.windows_per_epoch();
  ASSERT_EQ(W, 100);

  std::vector<std::vector<std::int64_t>> epochs;
  for (std::int64_t e = 0; e < 4; ++e) {
    std::vector<std::int64_t> order;
    for (std::int64_t p = 0; p < W; ++p) order.push_back(s.window_start(e * W + p));
    std::vector<std::int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (std::int64_t w = 0; w < W; ++w) ASSERT_EQ(sorted[static_cast<std::size_t>(w)], w * T) << "epoch " << e;
    epochs.push_back(order);
  }
  for (std::size_t i = 0; i < epochs.size(); ++i)
    for (std::size_t j = i + 1; j < epochs.size(); ++j) EXPECT_NE(epochs[i], epochs[j]) << i << " vs " << j;
  // Not the identity either: the order is actually shuffled.
  std::vector<std::int64_t> identity(static_cast<std::size_t>(W));
  for (std::int64_t w = 0; w < W; ++w) identity[static_cast<std::size_t>(w)] = w * T;
  EXPECT_NE(epochs[0], identity);

  // Going back to an earlier epoch (cache holds another one) rebuilds the same permutation.
  for (std::int64_t p = 0; p < W; ++p) EXPECT_EQ(s.window_start(p), epochs[0][static_cast<std::size_t>(p)]);
  // A fresh sampler resuming mid-epoch 2 agrees with the one that ran from the start.
  BatchSampler resumed(f, Sampling::epoch, T, 99);
  for (std::int64_t p = 37; p < W; ++p)
    EXPECT_EQ(resumed.window_start(2 * W + p), epochs[2][static_cast<std::size_t>(p)]);
}

TEST_F(SamplerTest, EpochWindowsFitWhenTheLastTokenHasNoRoomForAFullWindow) {
  const std::int64_t n = 1000, T = 10;  // (n-1)/T = 99: window 99 would need token 1000
  TokenFile f(write_counting("e2.bin", n), kVocab);
  BatchSampler s(f, Sampling::epoch, T, 5);
  ASSERT_EQ(s.windows_per_epoch(), 99);
  std::set<std::int64_t> seen;
  for (std::int64_t g = 0; g < 99; ++g) {
    const std::int64_t st = s.window_start(g);
    EXPECT_LE(st + T + 1, n);
    seen.insert(st);
  }
  EXPECT_EQ(seen.size(), 99u);
}

TEST_F(SamplerTest, FillMatchesFileContents) {
  const std::int64_t n = 3000, T = 24, rows = 8, first = 37;
  TokenFile f(write_counting("fill.bin", n), kVocab);
  const auto data = f.tokens();
  for (Sampling mode : {Sampling::random, Sampling::epoch}) {
    BatchSampler s(f, mode, T, 2024);
    std::vector<std::int32_t> x(rows * T, -1), y(rows * T, -1);
    s.fill(first, rows, x.data(), y.data());
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t st = s.window_start(first + r);
      for (std::int64_t t = 0; t < T; ++t) {
        const auto i = static_cast<std::size_t>(r * T + t);
        ASSERT_EQ(x[i], data[static_cast<std::size_t>(st + t)]) << "row " << r << " t " << t;
        ASSERT_EQ(y[i], data[static_cast<std::size_t>(st + t + 1)]) << "row " << r << " t " << t;
        // Counting file: targets are the inputs shifted by one.
        ASSERT_EQ(y[i], x[i] + 1);
      }
    }
  }
}

TEST_F(SamplerTest, SmallestFileHasOneWindow) {
  const std::int64_t T = 16;
  TokenFile f(write_counting("min.bin", T + 1), kVocab);
  for (Sampling mode : {Sampling::random, Sampling::epoch}) {
    BatchSampler s(f, mode, T, 3);
    EXPECT_EQ(s.windows_per_epoch(), 1);
    for (std::int64_t g = 0; g < 10; ++g) EXPECT_EQ(s.window_start(g), 0);
  }
}

TEST_F(SamplerTest, TooShortFileIsDataErrorNamingTheFile) {
  const auto p = write_counting("short.bin", 16);
  TokenFile f(p, kVocab);
  for (Sampling mode : {Sampling::random, Sampling::epoch}) {
    try {
      BatchSampler s(f, mode, 16, 1);
      FAIL() << "expected DataError";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
    }
  }
}

TEST_F(SamplerTest, NegativeIndicesAreInvalidArgument) {
  TokenFile f(write_counting("neg.bin", 100), kVocab);
  for (Sampling mode : {Sampling::random, Sampling::epoch}) {
    BatchSampler s(f, mode, 8, 1);
    EXPECT_THROW(s.window_start(-1), std::invalid_argument);
    std::vector<std::int32_t> x(8), y(8);
    EXPECT_THROW(s.fill(-1, 1, x.data(), y.data()), std::invalid_argument);
  }
  EXPECT_THROW(BatchSampler(f, Sampling::random, 0, 1), std::invalid_argument);
}

}  // namespace
}  // namespace gpt
