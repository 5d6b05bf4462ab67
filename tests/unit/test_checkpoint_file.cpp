// Checkpoint files: round trips of tensors and attributes, detection of flipped bits, torn and
// foreign files, the atomic write, and the run folder's list / fallback / prune.
#include "train/checkpoint/checkpoint_file.h"
#include "train/checkpoint/checkpoint_folder.h"

#include "tests/support/checkpoint_seal.h"
#include "tests/support/read_file.h"
#include "tests/support/temp_dir_test.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace gpt {
namespace {

namespace fs = std::filesystem;

// EXPECT_TRUE(contains(text, part)), printing both when it fails (no gmock here).
::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

#define SKIP_WITHOUT_HDF5() \
  if (!checkpoints_supported()) GTEST_SKIP() << "this build has no HDF5"

std::vector<char> read_bytes(const fs::path& p) {
  const std::string bytes = test::read_file(p);
  return {bytes.begin(), bytes.end()};
}
void write_bytes(const fs::path& p, const std::vector<char>& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(b.data(), static_cast<std::streamsize>(b.size()));
  ASSERT_TRUE(f.good()) << p;
}
// Offset of `needle` in `hay`; fails the test when it is not there exactly once.
std::size_t find_once(const std::vector<char>& hay, const void* needle, std::size_t n) {
  const char* p = static_cast<const char*>(needle);
  auto it = std::search(hay.begin(), hay.end(), p, p + n);
  EXPECT_NE(it, hay.end()) << "pattern not found in the file";
  if (it == hay.end()) return 0;
  EXPECT_EQ(std::search(it + 1, hay.end(), p, p + n), hay.end()) << "pattern found twice";
  return static_cast<std::size_t>(it - hay.begin());
}
std::vector<fs::path> temporaries(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path());
  return out;
}
std::string error_of(const fs::path& p) {
  try {
    CheckpointFile f(p);
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "";
}

class CheckpointFileTest : public test::TempDirTest {
 protected:
  // A small checkpoint whose tensor "params/pattern" holds 257 distinct floats 1000 + i/4 and
  // whose root attribute "marker" is 0x0123456789ABCDEF, both easy to find in the file's bytes.
  void write_small(const fs::path& p, std::int64_t step) {
    pattern_.resize(257);
    for (std::size_t i = 0; i < pattern_.size(); ++i) pattern_[i] = 1000.0f + 0.25f * static_cast<float>(i);
    other_.assign(12, 0.0f);
    for (std::size_t i = 0; i < other_.size(); ++i) other_[i] = -3.0f * static_cast<float>(i) + 0.125f;
    write_checkpoint_file(p,
                          {{"/", {{"step", step}, {"marker", std::int64_t{0x0123456789ABCDEF}}, {"note", "hello"}}},
                           {"/rng", {{"seed", std::int64_t{42}}}}},
                          {{"params/pattern", {257}, pattern_.data()}, {"params/other", {3, 4}, other_.data()}});
  }

  std::vector<float> pattern_, other_;
};

TEST_F(CheckpointFileTest, RoundTripsTensorsOfEveryRankBitExactly) {
  SKIP_WITHOUT_HDF5();
  std::vector<float> a(5), b(12), c(24), d(12), scalar{2.5f};
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (auto* v : {&a, &b, &c, &d})
    for (float& x : *v) x = normal(rng);
  // Values whose bits must survive: NaN, infinities, negative zero, denormals.
  b[0] = std::numeric_limits<float>::quiet_NaN();
  b[1] = std::numeric_limits<float>::infinity();
  b[2] = -std::numeric_limits<float>::infinity();
  b[3] = -0.0f;
  b[4] = std::numeric_limits<float>::denorm_min();
  const std::vector<TensorRef> tensors = {
      {"params/wte.weight", {3, 4}, b.data()},
      {"params/h.0.ln_1.bias", {5}, a.data()},
      {"optim/m/h.0.attn.c_attn.weight", {2, 3, 4}, c.data()},
      {"optim/v/conv", {2, 1, 3, 2}, d.data()},
      {"scalar", {}, scalar.data()},
      {"empty", {0, 3}, nullptr},
  };
  const fs::path p = dir_ / "ck.h5";
  write_checkpoint_file(p, {}, tensors);
  ASSERT_TRUE(fs::exists(p));
  EXPECT_TRUE(temporaries(dir_).empty());

  const CheckpointFile f(p);
  EXPECT_EQ(f.path(), p);
  EXPECT_EQ(f.tensor_paths(), (std::vector<std::string>{"empty", "optim/m/h.0.attn.c_attn.weight", "optim/v/conv",
                                                        "params/h.0.ln_1.bias", "params/wte.weight", "scalar"}));
  for (const TensorRef& t : tensors) {
    SCOPED_TRACE(t.path);
    ASSERT_TRUE(f.has_tensor(t.path));
    EXPECT_EQ(f.shape(t.path), t.shape);
    const std::vector<float>& v = f.values(t.path);
    std::size_t n = 1;
    for (auto s : t.shape) n *= static_cast<std::size_t>(s);
    ASSERT_EQ(v.size(), n);
    if (n) {
      EXPECT_EQ(std::memcmp(v.data(), t.data, n * sizeof(float)), 0);
    }
  }
  EXPECT_TRUE(f.has_tensor("/params/wte.weight"));  // a leading '/' is accepted
  EXPECT_FALSE(f.has_tensor("params/missing"));
  EXPECT_FALSE(f.has_tensor("params"));  // a group is not a tensor
  EXPECT_THROW(f.values("params/missing"), CheckpointError);
  EXPECT_THROW(f.shape("params/missing"), CheckpointError);
}

TEST_F(CheckpointFileTest, RoundTripsAttributesOfEveryTypeInSeveralGroups) {
  SKIP_WITHOUT_HDF5();
  const std::string config = "[model]\nn_layer = 12\nname = \"gpt2 — ünïcödé\"\n\n[train]\nlr = 6e-4\n";
  const std::string long_text(200000, 'x');  // beyond HDF5's 64 KiB compact attribute limit
  const std::map<std::string, Attrs> attrs = {
      {"/",
       {{"format_version", std::int64_t{1}},
        {"step", std::int64_t{7}},
        {"tokens_seen", std::int64_t{1} << 40},
        {"negative", std::numeric_limits<std::int64_t>::min()},
        {"created", "2026-01-02T03:04:05Z"},
        {"config", config},
        {"empty_text", ""},
        {"long_text", long_text},
        {"loss", 3.25}}},
      {"/rng", {{"seed", std::int64_t{1234}}, {"state", "mt19937 5489 1 2 3"}}},
      {"optim", {{"beta1", 0.9}, {"eps", 1e-8}, {"tiny", std::numeric_limits<double>::denorm_min()}}},
      {"/data/rank0/", {{"position", std::int64_t{987654321}}}},
      {"/empty_group", {}},
  };
  std::vector<float> w{1, 2, 3};
  const fs::path p = dir_ / "ck.h5";
  write_checkpoint_file(p, attrs, {{"params/w", {3}, w.data()}});
  const CheckpointFile f(p);
  EXPECT_EQ(f.attr_int("/", "format_version"), 1);
  EXPECT_EQ(f.attr_int("/", "step"), 7);
  EXPECT_EQ(f.attr_int("/", "tokens_seen"), std::int64_t{1} << 40);
  EXPECT_EQ(f.attr_int("/", "negative"), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(f.attr_string("/", "created"), "2026-01-02T03:04:05Z");
  EXPECT_EQ(f.attr_string("/", "config"), config);
  EXPECT_EQ(f.attr_string("/", "empty_text"), "");
  EXPECT_EQ(f.attr_string("/", "long_text"), long_text);
  EXPECT_EQ(f.attr_double("/", "loss"), 3.25);
  EXPECT_EQ(f.attr_int("/rng", "seed"), 1234);
  EXPECT_EQ(f.attr_int("rng", "seed"), 1234);  // group names are normalized
  EXPECT_EQ(f.attr_string("/rng", "state"), "mt19937 5489 1 2 3");
  EXPECT_EQ(f.attr_double("/optim", "beta1"), 0.9);
  EXPECT_EQ(f.attr_double("/optim", "eps"), 1e-8);
  EXPECT_EQ(f.attr_double("/optim", "tiny"), std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(f.attr_int("/data/rank0", "position"), 987654321);
  EXPECT_TRUE(f.has_attr("/", "step"));
  EXPECT_TRUE(f.has_attr("/data/rank0", "position"));
  EXPECT_FALSE(f.has_attr("/", "missing"));
  EXPECT_FALSE(f.has_attr("/nogroup", "step"));
  EXPECT_FALSE(f.has_attr("/empty_group", "x"));

  // The checksum is there: 16 lowercase hex digits.
  const std::string sum = f.attr_string("/", "checksum");
  EXPECT_EQ(sum.size(), 16u);
  EXPECT_TRUE(std::all_of(sum.begin(), sum.end(), [](char ch) { return std::isxdigit(ch) && !std::isupper(ch); }))
      << sum;

  // Wrong type or missing: CheckpointError naming the file, group and attribute.
  try {
    f.attr_int("/", "created");
    FAIL() << "expected CheckpointError";
  } catch (const CheckpointError& e) {
    EXPECT_TRUE(contains(e.what(), p.string()));
    EXPECT_TRUE(contains(e.what(), "created"));
    EXPECT_TRUE(contains(e.what(), "a string"));
  }
  EXPECT_THROW(f.attr_double("/", "step"), CheckpointError);
  EXPECT_THROW(f.attr_string("/", "loss"), CheckpointError);
  EXPECT_THROW(f.attr_int("/", "missing"), CheckpointError);
  EXPECT_THROW(f.attr_int("/nogroup", "step"), CheckpointError);
}

TEST_F(CheckpointFileTest, ChecksumDependsOnContentNotOnArgumentOrder) {
  SKIP_WITHOUT_HDF5();
  std::vector<float> a{1, 2, 3, 4}, b{5, 6};
  const std::map<std::string, Attrs> attrs = {{"/", {{"step", std::int64_t{3}}}}, {"/rng", {{"s", "x"}}}};
  write_checkpoint_file(dir_ / "1.h5", attrs, {{"a", {4}, a.data()}, {"g/b", {2}, b.data()}});
  write_checkpoint_file(dir_ / "2.h5", attrs, {{"g/b", {2}, b.data()}, {"a", {4}, a.data()}});
  write_checkpoint_file(dir_ / "3.h5", attrs, {{"a", {2, 2}, a.data()}, {"g/b", {2}, b.data()}});  // other shape
  write_checkpoint_file(dir_ / "4.h5", {{"/", {{"step", std::int64_t{4}}}}, {"/rng", {{"s", "x"}}}},
                        {{"a", {4}, a.data()}, {"g/b", {2}, b.data()}});  // other attribute value
  b[1] = 6.0000005f;
  write_checkpoint_file(dir_ / "5.h5", attrs, {{"a", {4}, a.data()}, {"g/b", {2}, b.data()}});  // one value
  const auto sum = [&](const char* n) { return CheckpointFile(dir_ / n).attr_string("/", "checksum"); };
  EXPECT_EQ(sum("1.h5"), sum("2.h5"));
  EXPECT_NE(sum("1.h5"), sum("3.h5"));
  EXPECT_NE(sum("1.h5"), sum("4.h5"));
  EXPECT_NE(sum("1.h5"), sum("5.h5"));
}

TEST_F(CheckpointFileTest, FlippedBitInTensorDataIsDetected) {
  SKIP_WITHOUT_HDF5();
  const fs::path good = dir_ / "good.h5";
  write_small(good, 1);
  ASSERT_NO_THROW(CheckpointFile{good});
  const std::vector<char> bytes = read_bytes(good);
  const std::size_t pat = find_once(bytes, pattern_.data(), pattern_.size() * sizeof(float));
  const std::size_t oth = find_once(bytes, other_.data(), other_.size() * sizeof(float));
  // First, middle and last byte of the 1028-byte tensor (the last one lands in the hash's tail),
  // every bit position, and one byte of the other tensor.
  const std::vector<std::pair<std::size_t, int>> flips = {
      {pat, 0}, {pat + 1, 7}, {pat + 513, 3}, {pat + 1027, 7}, {pat + 1027, 0}, {pat + 1024, 5}, {oth + 20, 2}};
  for (const auto& [offset, bit] : flips) {
    SCOPED_TRACE("byte " + std::to_string(offset) + " bit " + std::to_string(bit));
    std::vector<char> bad = bytes;
    bad[offset] = static_cast<char>(bad[offset] ^ (1 << bit));
    const fs::path p = dir_ / "bad.h5";
    write_bytes(p, bad);
    const std::string err = error_of(p);
    EXPECT_TRUE(contains(err, "damaged: its bytes give digest"));  // the seal, before HDF5 reads it
    EXPECT_TRUE(contains(err, p.string()));
    test::reseal(p);  // as if the flip had happened before the file was sealed
    EXPECT_TRUE(contains(error_of(p), "checksum mismatch"));
  }
}

TEST_F(CheckpointFileTest, FlippedBitInAttributeIsDetected) {
  SKIP_WITHOUT_HDF5();
  const fs::path p = dir_ / "ck.h5";
  write_small(p, 1);
  std::vector<char> bytes = read_bytes(p);
  const std::int64_t marker = 0x0123456789ABCDEF;
  const std::size_t at = find_once(bytes, &marker, sizeof marker);
  bytes[at + 3] = static_cast<char>(bytes[at + 3] ^ 0x10);
  write_bytes(p, bytes);
  EXPECT_TRUE(contains(error_of(p), "damaged: its bytes give digest"));
  test::reseal(p);
  EXPECT_TRUE(contains(error_of(p), "checksum mismatch"));
}

TEST_F(CheckpointFileTest, MissingChecksumIsRefused) {
  SKIP_WITHOUT_HDF5();
  const fs::path p = dir_ / "ck.h5";
  write_small(p, 1);
  std::vector<char> bytes = read_bytes(p);
  // Renames the attribute in place (HDF5's version-1 object headers carry no checksum of their own).
  const std::size_t at = find_once(bytes, "checksum", 8);
  bytes[at + 7] = 'X';
  write_bytes(p, bytes);
  test::reseal(p);
  const std::string err = error_of(p);
  EXPECT_TRUE(contains(err, "checksum"));
  EXPECT_TRUE(contains(err, p.string()));
}

TEST_F(CheckpointFileTest, TruncatedFileIsRefused) {
  SKIP_WITHOUT_HDF5();
  const fs::path good = dir_ / "good.h5";
  write_small(good, 1);
  const std::vector<char> bytes = read_bytes(good);
  for (std::size_t keep : {bytes.size() - 1, bytes.size() - 600, bytes.size() / 2, std::size_t{100}, std::size_t{0}}) {
    SCOPED_TRACE("kept " + std::to_string(keep) + " of " + std::to_string(bytes.size()) + " bytes");
    const fs::path p = dir_ / "torn.h5";
    write_bytes(p, std::vector<char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep)));
    const std::string err = error_of(p);
    EXPECT_TRUE(contains(err, "checkpoint " + p.string() + ": "));
  }
}

TEST_F(CheckpointFileTest, ForeignOrMissingFileIsRefused) {
  SKIP_WITHOUT_HDF5();
  const fs::path text = dir_ / "notes.h5";
  write_bytes(text, std::vector<char>(4096, 'z'));
  EXPECT_TRUE(contains(error_of(text), "checkpoint " + text.string() + ": not a checkpoint of this trainer"));
  // HDF5's signature, then garbage: an unsealed file (as written before the seal) that HDF5 refuses.
  std::vector<char> fake(4096, 'z');
  std::memcpy(fake.data(), "\x89HDF\r\n\x1a\n", 8);
  write_bytes(text, fake);
  EXPECT_TRUE(contains(error_of(text), "checkpoint " + text.string() + ": not an HDF5 file"));
  EXPECT_TRUE(contains(error_of(dir_ / "missing.h5"), "no such file"));
  EXPECT_TRUE(contains(error_of(dir_), "not a regular file"));
  // A CheckpointError is an InputError (exit code 2 in the mains).
  EXPECT_THROW(CheckpointFile{text}, InputError);
}

TEST_F(CheckpointFileTest, WritingReplacesAnOldFileAndCreatesFolders) {
  SKIP_WITHOUT_HDF5();
  const fs::path p = dir_ / "a" / "b" / "ck.h5";
  write_small(p, 1);
  write_small(p, 2);
  EXPECT_EQ(CheckpointFile(p).attr_int("/", "step"), 2);
  EXPECT_TRUE(temporaries(p.parent_path()).empty());
}

TEST_F(CheckpointFileTest, FailedWriteLeavesOldFileAndNoTemporary) {
  SKIP_WITHOUT_HDF5();
  const fs::path p = dir_ / "ck.h5";
  write_small(p, 1);
  std::vector<float> v{1, 2};
  const auto expect_fails = [&](const std::map<std::string, Attrs>& attrs, const std::vector<TensorRef>& tensors,
                                const std::string& why) {
    SCOPED_TRACE(why);
    try {
      write_checkpoint_file(p, attrs, tensors);
      ADD_FAILURE() << "expected std::runtime_error";
    } catch (const std::runtime_error& e) {
      EXPECT_TRUE(contains(e.what(), p.string()));
      EXPECT_TRUE(contains(e.what(), why));
    }
    EXPECT_TRUE(temporaries(dir_).empty());
    EXPECT_EQ(CheckpointFile(p).attr_int("/", "step"), 1);
  };
  // Refused before the disk is touched.
  expect_fails({}, {{"x", {2}, v.data()}, {"/x", {2}, v.data()}}, "given twice");
  expect_fails({}, {{"x", {-1}, v.data()}}, "negative");
  expect_fails({}, {{"x", {2}, nullptr}}, "no data");
  expect_fails({{"/", {{"checksum", "0"}}}}, {}, "reserved");
  expect_fails({{"/x", {{"a", std::int64_t{1}}}}}, {{"x", {2}, v.data()}}, "also a tensor");
  expect_fails({{"/", {{"s", std::string("a\0b", 3)}}}}, {}, "NUL");
  // Fails inside HDF5, after the temporary file exists: "x" cannot be a dataset and a group.
  expect_fails({}, {{"x", {2}, v.data()}, {"x/y", {2}, v.data()}}, "x/y");
  // The folder cannot be made: a file stands in the way.
  write_bytes(dir_ / "file", {'x'});
  try {
    write_checkpoint_file(dir_ / "file" / "sub" / "ck.h5", {}, {});
    ADD_FAILURE() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), (dir_ / "file" / "sub" / "ck.h5").string()));
  }
}

TEST_F(CheckpointFileTest, CheckpointPathsAndListing) {
  EXPECT_EQ(checkpoint_path("runs/x", 40), fs::path("runs/x/checkpoints/step_00000040.h5"));
  EXPECT_EQ(checkpoint_path("r", 123456789), fs::path("r/checkpoints/step_123456789.h5"));
  EXPECT_TRUE(list_checkpoints(dir_).empty());  // no checkpoints folder
  const fs::path ck = dir_ / "checkpoints";
  fs::create_directories(ck);
  for (std::int64_t s : {40, 5, 123456789, 100}) write_bytes(checkpoint_path(dir_, s), {'x'});
  for (const char* other : {"step_00000050.h5.tmp.12345", "notes.txt", "step_abc.h5", "step_00000060.h5.bak"})
    write_bytes(ck / other, {'x'});
  fs::create_directories(ck / "step_00000070.h5");  // a folder is not a checkpoint
  EXPECT_EQ(list_checkpoints(dir_), (std::vector<fs::path>{checkpoint_path(dir_, 123456789), checkpoint_path(dir_, 100),
                                                           checkpoint_path(dir_, 40), checkpoint_path(dir_, 5)}));
}

TEST_F(CheckpointFileTest, OpenNewestValidFallsBackAndReportsBadOnes) {
  SKIP_WITHOUT_HDF5();
  CheckpointFolder folder(dir_);
  {
    std::ostringstream warn;
    EXPECT_FALSE(folder.open_newest_valid(warn).has_value());
    EXPECT_EQ(warn.str(), "");
  }
  for (std::int64_t s : {10, 20, 30, 40}) write_small(checkpoint_path(dir_, s), s);
  // 40 is torn, 30 has a flipped bit.
  fs::resize_file(checkpoint_path(dir_, 40), fs::file_size(checkpoint_path(dir_, 40)) / 2);
  std::vector<char> bytes = read_bytes(checkpoint_path(dir_, 30));
  bytes[find_once(bytes, pattern_.data(), 16) + 5] ^= 0x04;
  write_bytes(checkpoint_path(dir_, 30), bytes);

  std::ostringstream warn;
  const std::optional<CheckpointFile> f = folder.open_newest_valid(warn);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->path(), checkpoint_path(dir_, 20));
  EXPECT_EQ(f->attr_int("/", "step"), 20);
  EXPECT_EQ(f->values("params/pattern"), pattern_);
  const std::string w = warn.str();
  EXPECT_TRUE(contains(w, checkpoint_path(dir_, 40).string()));
  EXPECT_TRUE(contains(w, checkpoint_path(dir_, 30).string() + ": damaged"));
  EXPECT_EQ(std::count(w.begin(), w.end(), '\n'), 2) << w;
  EXPECT_EQ(w.find(checkpoint_path(dir_, 20).string()), std::string::npos) << w;

  // None valid: nullopt, every one reported.
  fs::remove(checkpoint_path(dir_, 10));
  fs::resize_file(checkpoint_path(dir_, 20), 10);
  std::ostringstream warn2;
  EXPECT_FALSE(folder.open_newest_valid(warn2).has_value());
  const std::string w2 = warn2.str();
  EXPECT_EQ(std::count(w2.begin(), w2.end(), '\n'), 3) << w2;
}

TEST_F(CheckpointFileTest, LeftoverTemporaryIsIgnoredThenPruned) {
  SKIP_WITHOUT_HDF5();
  CheckpointFolder folder(dir_);
  write_small(checkpoint_path(dir_, 20), 20);
  // A process killed while writing step 30 left half a file under its temporary name.
  write_small(dir_ / "full.h5", 30);
  const std::vector<char> bytes = read_bytes(dir_ / "full.h5");
  const fs::path tmp = checkpoint_path(dir_, 30).string() + ".tmp.999999";
  write_bytes(tmp, std::vector<char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2)));

  EXPECT_EQ(list_checkpoints(dir_), std::vector<fs::path>{checkpoint_path(dir_, 20)});
  std::ostringstream warn;
  const auto f = folder.open_newest_valid(warn);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->attr_int("/", "step"), 20);
  EXPECT_EQ(warn.str(), "");
  EXPECT_TRUE(fs::exists(tmp));
  std::ostringstream notes;
  folder.prune(0, notes);
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_EQ(list_checkpoints(dir_), std::vector<fs::path>{checkpoint_path(dir_, 20)});
}

TEST_F(CheckpointFileTest, PruneKeepsTheNewest) {
  SKIP_WITHOUT_HDF5();
  CheckpointFolder folder(dir_);
  const fs::path ck = dir_ / "checkpoints";
  std::ostringstream notes;
  folder.prune(2, notes);  // no folder yet: nothing to do
  fs::create_directories(ck);
  for (std::int64_t s : {10, 20, 30, 40, 50}) write_small(checkpoint_path(dir_, s), s);
  write_bytes(ck / "step_00000060.h5.tmp.4242", {'x'});
  write_bytes(ck / "notes.txt", {'x'});
  folder.prune(0, notes);  // keeps every checkpoint, removes the temporary
  EXPECT_EQ(list_checkpoints(dir_).size(), 5u);
  EXPECT_FALSE(fs::exists(ck / "step_00000060.h5.tmp.4242"));
  folder.prune(2, notes);
  EXPECT_EQ(list_checkpoints(dir_), (std::vector<fs::path>{checkpoint_path(dir_, 50), checkpoint_path(dir_, 40)}));
  EXPECT_TRUE(fs::exists(ck / "notes.txt"));  // not ours: kept
  folder.prune(5, notes);
  EXPECT_EQ(list_checkpoints(dir_).size(), 2u);
  EXPECT_EQ(notes.str(), "");  // every file was valid
}

// After a resume fell back past a bad newest file, keep_last must count only files that verify:
// the bad ones are renamed *.corrupt (kept for inspection, out of the listing), never counted.
TEST_F(CheckpointFileTest, PruneCountsOnlyValidCheckpoints) {
  SKIP_WITHOUT_HDF5();
  CheckpointFolder folder(dir_);
  for (std::int64_t s : {10, 20, 30, 40}) write_small(checkpoint_path(dir_, s), s);
  fs::resize_file(checkpoint_path(dir_, 40), fs::file_size(checkpoint_path(dir_, 40)) / 2);
  std::vector<char> bytes = read_bytes(checkpoint_path(dir_, 30));
  bytes[find_once(bytes, pattern_.data(), 16) + 5] ^= 0x04;
  write_bytes(checkpoint_path(dir_, 30), bytes);

  std::ostringstream notes;
  folder.prune(2, notes);
  EXPECT_EQ(list_checkpoints(dir_), (std::vector<fs::path>{checkpoint_path(dir_, 20), checkpoint_path(dir_, 10)}));
  for (std::int64_t s : {30, 40}) EXPECT_TRUE(fs::exists(checkpoint_path(dir_, s).string() + ".corrupt")) << s;
  // One line per file set aside, with its reason.
  const std::string n = notes.str();
  EXPECT_EQ(std::count(n.begin(), n.end(), '\n'), 2) << n;
  EXPECT_TRUE(contains(n, checkpoint_path(dir_, 30).string() + ": damaged"));
  EXPECT_TRUE(contains(n, checkpoint_path(dir_, 40).string()));

  // A new valid checkpoint: the oldest valid one goes, the set-aside files stay as they are.
  write_small(checkpoint_path(dir_, 50), 50);
  notes.str("");
  folder.prune(2, notes);
  EXPECT_EQ(list_checkpoints(dir_), (std::vector<fs::path>{checkpoint_path(dir_, 50), checkpoint_path(dir_, 20)}));
  for (std::int64_t s : {30, 40}) EXPECT_TRUE(fs::exists(checkpoint_path(dir_, s).string() + ".corrupt")) << s;
  EXPECT_EQ(notes.str(), "");
}

// A CheckpointFolder remembers what it reported: a bad file its resume skipped is named again by
// its prune but not explained twice. Its write lands at checkpoint_path, no temporary left.
TEST_F(CheckpointFileTest, FolderRemembersWhatItReportedAndWrote) {
  SKIP_WITHOUT_HDF5();
  CheckpointFolder folder(dir_);
  for (std::int64_t s : {10, 20}) write_small(checkpoint_path(dir_, s), s);
  fs::resize_file(checkpoint_path(dir_, 20), fs::file_size(checkpoint_path(dir_, 20)) / 2);
  std::ostringstream warn;
  const std::optional<CheckpointFile> f = folder.open_newest_valid(warn);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->attr_int("/", "step"), 10);
  EXPECT_TRUE(contains(warn.str(), checkpoint_path(dir_, 20).string()));
  std::ostringstream notes;
  folder.prune(1, notes);
  EXPECT_EQ(notes.str(), "warning: checkpoint " + checkpoint_path(dir_, 20).string() +
                             " (reported above) -> renamed to step_00000020.h5.corrupt so that checkpoint.keep_last "
                             "counts valid files only\n");
  EXPECT_EQ(list_checkpoints(dir_), std::vector<fs::path>{checkpoint_path(dir_, 10)});

  std::vector<float> v{1, 2};
  folder.write(30, {{"/", {{"step", std::int64_t{30}}}}}, {{"params/v", {2}, v.data()}});
  EXPECT_EQ(CheckpointFile(checkpoint_path(dir_, 30)).attr_int("/", "step"), 30);
  EXPECT_TRUE(temporaries(dir_ / "checkpoints").empty());
}

// A run learns before its first step that its checkpoints folder is unusable (bad input).
TEST_F(CheckpointFileTest, CheckpointFolderIsCheckedBeforeTraining) {
  check_checkpoint_folder(dir_ / "run");  // made, probed, and left empty
  EXPECT_TRUE(fs::is_directory(dir_ / "run" / "checkpoints"));
  EXPECT_TRUE(fs::is_empty(dir_ / "run" / "checkpoints"));
  write_bytes(dir_ / "checkpoints", {'x'});  // a regular file where the folder should be
  try {
    check_checkpoint_folder(dir_);
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(contains(e.what(), (dir_ / "checkpoints").string()));
  }
}

class CheckpointFileNoHdf5 : public test::TempDirTest {};

TEST_F(CheckpointFileNoHdf5, FunctionsSayWhatIsMissing) {
  if (checkpoints_supported()) GTEST_SKIP() << "this build has HDF5";
  const fs::path p = dir_ / "no_hdf5.h5";
  try {
    write_checkpoint_file(p, {}, {});
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), "this build has no HDF5"));
  }
  EXPECT_FALSE(fs::exists(p));
  EXPECT_THROW(CheckpointFile{p}, std::runtime_error);
  // Without checkpoints a run starts fresh; with some, it must not silently ignore them.
  const fs::path run = dir_ / "run";
  CheckpointFolder folder(run);
  std::ostringstream warn;
  EXPECT_FALSE(folder.open_newest_valid(warn).has_value());
  fs::create_directories(run / "checkpoints");
  write_bytes(checkpoint_path(run, 10), {'x'});
  EXPECT_THROW(folder.open_newest_valid(warn), std::runtime_error);
  EXPECT_EQ(list_checkpoints(run), std::vector<fs::path>{checkpoint_path(run, 10)});
}

}  // namespace
}  // namespace gpt
