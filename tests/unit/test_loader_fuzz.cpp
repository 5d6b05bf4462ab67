// Bounded random-mutation fuzzing of the loaders that read a user's input: the TOML config with
// command-line overrides, and token files. Whatever the bytes, a loader either succeeds or throws
// an InputError (exit 2 in the mains); any other exception, a crash or a hang is a bug. Fixed
// seeds and iteration counts keep it repeatable and a few seconds long (tests/sanitize.sh runs it
// under ASan and UBSan too). GPT_FUZZ_ITERATIONS=N runs N mutations of each kind instead.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "core/errors.h"
#include "data/token_file.h"
#include "tests/support/fuzz_iterations.h"
#include "tests/support/read_file.h"
#include "tests/support/temp_dir_test.h"
#include "tests/support/test_data.h"
#include "train/run_config.h"

namespace gpt::test {
namespace {

namespace fs = std::filesystem;

// Flips, inserts, deletes or duplicates a few bytes, or splices in one of `tokens` (the
// structure a text format's parser cares about).
std::string mutate(std::string s, std::mt19937_64& rng, const std::vector<std::string>& tokens) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const std::size_t at = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 6) {
      case 0:
        if (!s.empty()) s[at] = static_cast<char>(s[at] ^ (1u << (rng() % 8)));
        break;
      case 1:
        s.insert(at, 1, static_cast<char>(rng() % 256));
        break;
      case 2:
        if (!s.empty()) s.erase(at, 1 + rng() % 8);
        break;
      case 3:
        if (!s.empty()) s.insert(at, s.substr(at, 1 + rng() % 16));
        break;
      default:
        s.insert(at, tokens[rng() % tokens.size()]);
        break;
    }
  }
  return s;
}

const std::vector<std::string> kTomlTokens = {"=",
                                              "\"",
                                              "'",
                                              "[",
                                              "]",
                                              "[[",
                                              "]]",
                                              "{",
                                              "}",
                                              ",",
                                              ".",
                                              "\n",
                                              "#",
                                              "\\",
                                              "-1",
                                              "0",
                                              "1e308",
                                              "nan",
                                              "inf",
                                              "-inf",
                                              "true",
                                              "1979-05-27",
                                              "9223372036854775807",
                                              "-9223372036854775808",
                                              "\"\"\"",
                                              "0x7fffffff",
                                              "[model]",
                                              "[train]",
                                              "[data]",
                                              "[optim]",
                                              "n_layer",
                                              "n_embd",
                                              "n_head",
                                              "vocab_size",
                                              "block_size",
                                              "seq_len",
                                              "micro_batch",
                                              "batch_tokens",
                                              "threads",
                                              "max_steps",
                                              "lr",
                                              "dir",
                                              "train",
                                              "val",
                                              "\xff\xfe"};

TEST(LoaderFuzz, ConfigTextAndOverridesAreAcceptedOrRefusedAsInput) {
  const fs::path source = fs::path(GPT_DEFAULT_DATA_DIR).parent_path().parent_path() / "configs" / "tiny.toml";
  const std::string base = test::read_file(source);
  ASSERT_FALSE(base.empty()) << source;
  const std::vector<std::string> keys = {"model.n_layer",    "model.n_embd",         "model.n_head",
                                         "model.vocab_size", "model.dropout",        "train.micro_batch",
                                         "train.seq_len",    "train.batch_tokens",   "train.threads",
                                         "optim.lr",         "optim.schedule",       "data.sampling",
                                         "run.dir",          "checkpoint.keep_last", "dist.zero_stage",
                                         "no.such_key"};
  std::mt19937_64 rng(20261201);
  int accepted = 0, refused = 0;
  const int n = fuzz_iterations(3000);
  for (int i = 0; i < n; ++i) {
    const std::string text = mutate(base, rng, kTomlTokens);
    std::vector<std::string> overrides;
    if (rng() % 2 == 0) overrides.push_back("--" + keys[rng() % keys.size()] + "=" + mutate("12", rng, kTomlTokens));
    try {
      (void)parse_run_config(text, "fuzz.toml", source.parent_path(), overrides);
      ++accepted;
    } catch (const InputError&) {
      ++refused;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "mutation " << i << ": not an InputError: " << e.what() << "\n--- config:\n" << text;
      return;
    }
  }
  std::cout << n << " configs: " << accepted << " accepted, " << refused << " refused as input\n";
  // Both outcomes must occur, or the mutations tested nothing.
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, n / 10);
}

class TokenFileFuzz : public TempDirTest {};

TEST_F(TokenFileFuzz, MutatedFilesAreReadOrRefusedAsInput) {
  // The head of the real validation sample (llm.c layout), its header and first tokens mutated,
  // sometimes cut or extended.
  std::string sample = test::read_file(tinystories_file("TinyStories-valid-sample.bin"));
  ASSERT_GT(sample.size(), 4096u);
  sample.resize(4096);
  const std::uint32_t count = (4096 - 1024) / 2;
  sample.replace(8, 4, reinterpret_cast<const char*>(&count), 4);  // a valid file of 1536 tokens
  const std::vector<std::string> tokens = {std::string("\x34\x12\x35\x01", 4), std::string(4, '\xff'),
                                           std::string(4, '\0'), std::string("\x01\0\0\0", 4)};
  std::mt19937_64 rng(1201);
  int accepted = 0, refused = 0;
  const int n = fuzz_iterations(1500);
  const fs::path path = dir_ / "fuzz.bin";
  for (int i = 0; i < n; ++i) {
    std::string bytes = mutate(sample.substr(0, 1024 + 64), rng, tokens) + sample.substr(1024 + 64);
    if (rng() % 4 == 0) bytes.resize(rng() % (bytes.size() + 16));
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    try {
      const TokenFile file(path, 50257);
      for (const std::uint16_t token : file.tokens()) ASSERT_LT(token, 50257) << "mutation " << i;
      ++accepted;
    } catch (const InputError&) {
      ++refused;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "mutation " << i << ": not an InputError: " << e.what();
      return;
    }
  }
  std::cout << n << " token files: " << accepted << " read, " << refused << " refused as input\n";
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace gpt::test
