// The GPT-2 tokenizer: ids known from tiktoken, round trips, the streaming decoder, special
// tokens, refusals (invalid UTF-8, unknown ids, broken vocabulary files) and a bounded fuzz of
// encode and decode on arbitrary bytes. Token-for-token parity with tiktoken on hard and random
// text is tests/python/check_tokenizer_tiktoken.py (ctest tokenizer_tiktoken).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "core/errors.h"
#include "data/prepare/story_reader.h"
#include "data/tokenizer/byte_level.h"
#include "data/tokenizer/piece_cache.h"
#include "data/tokenizer/streaming_decoder.h"
#include "data/tokenizer/tokenizer.h"
#include "data/tokenizer/utf8.h"
#include "tests/support/fuzz_iterations.h"
#include "tests/support/read_file.h"
#include "tests/support/temp_dir_test.h"
#include "tests/support/test_data.h"

namespace gpt {
namespace {

namespace fs = std::filesystem;
const fs::path kVocabDir = test::data_dir() / "gpt2";

// One vocabulary for the whole suite (loading takes a fraction of a second); each test copies it.
const Tokenizer& shared_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::load(kVocabDir);
  return tokenizer;
}

// Text that exercises every branch of the pattern and of UTF-8.
const std::vector<std::string> kHardText = {
    "",
    "Hello world",
    "I'm here, you're there, it's his; we've, they'll, she'd. I'M HERE, YOU'RE, IT'S, WE'VE, THEY'LL, SHE'D",
    "don’t (curly) vs don't",
    "1 12 123 1234 12345 123456789012345678901234567890 3.14159 -42 1,000,000",
    "a  b   c    d\t\te\n\nf\r\ng \t \n h",
    "trailing spaces   ",
    "   ",
    "\n\n\n",
    "café cafe\u0301 naïve Ærøskøbing",
    "Ελληνικά Русский текст العربية עברית हिन्दी ภาษาไทย 中文字符 한국어 ひらがな カタカナ",
    "emoji 👍🏽 👨‍👩‍👧‍👦 👩🏻‍💻 🇫🇷 1️⃣ ❤️",
    "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐",
    "!!!??? ... -- ''' \"quoted\" (paren) [bracket] {brace}",
    "text<|endoftext|>more <|endoftext|> <|endoftext|><|endoftext|> <|endoftext| <|endoftext|>>",
    "nel\u0085nel nbsp\u00a0x ogham\u1680x en\u2002x line\u2028para\u2029 narrow\u202f math\u205f ideo\u3000x",
    "sep\x1c\x1d\x1e\x1fx vt\x0b ff\x0c zw\u200b\u200c\u200d bom\ufeff",
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine.",
};

// Random valid UTF-8 from every plane, in runs like real text.
std::string random_text(std::mt19937_64& rng, std::size_t chars) {
  std::string out;
  std::uniform_int_distribution<int> kind(0, 9);
  for (std::size_t i = 0; i < chars; ++i) {
    char32_t c;
    switch (kind(rng)) {
      case 0:
        c = ' ';
        break;
      case 1:
        c = U"\t\n\r\u0085\u00a0\u3000"[rng() % 6];
        break;
      case 2:
        c = '0' + rng() % 10;
        break;
      case 3:
        c = "'.,!?-\"("[rng() % 8];
        break;
      case 4:
      case 5:
        c = 'a' + rng() % 26;
        break;
      default:
        do c = static_cast<char32_t>(rng() % 0x110000);
        while (c >= 0xD800 && c <= 0xDFFF);
    }
    utf8::append(out, c);
  }
  return out;
}

TEST(Tokenizer, GivesTiktokensIds) {
  Tokenizer tokenizer = shared_tokenizer();
  // tiktoken.get_encoding("gpt2").encode_ordinary / encode(..., allowed_special="all")
  const std::string text = "Hello world! I'm here<|endoftext|>   spaces\n\n";
  EXPECT_EQ(tokenizer.encode(text), (std::vector<TokenId>{15496, 995, 0, 314, 1101, 994, 27, 91, 437, 1659, 5239, 91,
                                                          29, 220, 220, 9029, 628}));
  EXPECT_EQ(tokenizer.encode(text, SpecialTokens::allowed),
            (std::vector<TokenId>{15496, 995, 0, 314, 1101, 994, 50256, 220, 220, 9029, 628}));
  EXPECT_EQ(tokenizer.encode("a\u0085\u0085b"), (std::vector<TokenId>{64, 126, 227, 126, 227, 65}));
  // U+180E is not white space to tiktoken (nor Unicode since 6.3), though PCRE2's \s matches it.
  EXPECT_EQ(tokenizer.encode("x \u180e y"), (std::vector<TokenId>{87, 28053, 254, 236, 331}));
  EXPECT_EQ(tokenizer.end_of_text(), 50256u);
  EXPECT_EQ(tokenizer.vocabulary().size(), 50257u);
}

TEST(Tokenizer, EncodesTheSampleStoriesAsTheReferenceFile) {
  // The first story of the train sample, against the reference .bin made with tiktoken.
  const std::string text = test::read_file(test::tinystories_file("TinyStories-train-sample.txt"));
  const std::string first = text.substr(0, text.find("<|endoftext|>"));
  const std::string bin = test::read_file(test::tinystories_file("TinyStories-train-sample.bin"));
  Tokenizer tokenizer = shared_tokenizer();
  std::vector<TokenId> ids = tokenizer.encode(strip_story(first));
  ASSERT_GT(bin.size(), 1024 + 2 * (ids.size() + 1));
  for (std::size_t i = 0; i <= ids.size(); ++i) {
    std::uint16_t want;
    std::memcpy(&want, bin.data() + 1024 + 2 * i, 2);
    ASSERT_EQ(i == 0 ? 50256u : ids[i - 1], want) << "token " << i;
  }
}

TEST(Tokenizer, RoundTripsHardAndRandomText) {
  Tokenizer tokenizer = shared_tokenizer();
  for (const std::string& text : kHardText) {
    for (auto special : {SpecialTokens::as_text, SpecialTokens::allowed}) {
      const auto ids = tokenizer.encode(text, special);
      EXPECT_EQ(tokenizer.decode(ids), text);
      EXPECT_EQ(tokenizer.decode_bytes(ids), text);
    }
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20; ++i) {
    const std::string text = random_text(rng, 5000);
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text)), text);
  }
}

TEST(Tokenizer, EndOfTextIsSpecialOnlyWhenAllowed) {
  Tokenizer tokenizer = shared_tokenizer();
  const auto ordinary = tokenizer.encode("<|endoftext|>");
  EXPECT_EQ(std::count(ordinary.begin(), ordinary.end(), 50256u), 0);
  EXPECT_GT(ordinary.size(), 1u);
  EXPECT_EQ(tokenizer.encode("<|endoftext|>", SpecialTokens::allowed), std::vector<TokenId>{50256});
  EXPECT_EQ(tokenizer.encode("a<|endoftext|><|endoftext|>b", SpecialTokens::allowed),
            (std::vector<TokenId>{64, 50256, 50256, 65}));
  EXPECT_EQ(tokenizer.decode(std::vector<TokenId>{50256}), "<|endoftext|>");
}

TEST(Tokenizer, SplitCharactersDecodeExactlyAndStream) {
  Tokenizer tokenizer = shared_tokenizer();
  // Emoji and rare CJK become several byte-level tokens, each ending inside the character.
  const std::string text = "👨‍👩‍👧‍👦 and 𠜎 and 😀";
  const auto ids = tokenizer.encode(text);
  bool some_token_splits_a_character = false;
  for (TokenId id : ids) {
    some_token_splits_a_character |= utf8::first_invalid(tokenizer.vocabulary().bytes(id)) != std::string_view::npos;
  }
  EXPECT_TRUE(some_token_splits_a_character);
  StreamingDecoder decoder(tokenizer);
  std::string streamed;
  for (TokenId id : ids) {
    const std::string piece = decoder.push(id);
    EXPECT_EQ(utf8::first_invalid(piece), std::string_view::npos) << "a streamed piece is not valid UTF-8";
    streamed += piece;
  }
  streamed += decoder.finish();
  EXPECT_EQ(streamed, text);
}

TEST(Tokenizer, StreamingEqualsWholeDecodeOnArbitraryIds) {
  Tokenizer tokenizer = shared_tokenizer();
  std::mt19937_64 rng(11);
  for (int round = 0; round < 200; ++round) {
    std::vector<TokenId> ids(1 + rng() % 40);
    // Mostly byte-level tokens (0..255, many of them partial characters), some words.
    for (TokenId& id : ids) id = rng() % 3 ? rng() % 256 : rng() % 50257;
    StreamingDecoder decoder(tokenizer);
    std::string streamed;
    for (TokenId id : ids) streamed += decoder.push(id);
    streamed += decoder.finish();
    ASSERT_EQ(streamed, tokenizer.decode(ids)) << "round " << round;
    ASSERT_EQ(utf8::first_invalid(streamed), std::string_view::npos);
  }
}

TEST(Utf8, ReplacesEachMaximalIllFormedPartOnce) {
  // What Python's bytes.decode("utf-8", "replace") gives.
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(utf8::replace_invalid("a\xF0\x9F\x98"), "a" + r);           // cut short: one
  EXPECT_EQ(utf8::replace_invalid("\xC0\x80"), r + r);                  // overlong: two
  EXPECT_EQ(utf8::replace_invalid("\xED\xA0\x80"), r + r + r);          // surrogate: three
  EXPECT_EQ(utf8::replace_invalid("\xF4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
  EXPECT_EQ(utf8::replace_invalid("\xE2\x82x"), r + "x");
  EXPECT_EQ(utf8::replace_invalid("\x80\xBF"), r + r);
  EXPECT_EQ(utf8::replace_invalid("\xF0\xF0\x9F\x98\x80"), r + "\xF0\x9F\x98\x80");
  EXPECT_EQ(utf8::incomplete_tail("ab\xF0\x9F\x98"), 3u);
  EXPECT_EQ(utf8::incomplete_tail("ab\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(utf8::incomplete_tail("ab\xE2"), 1u);
  EXPECT_EQ(utf8::incomplete_tail("ab\xC0"), 0u);  // can never be completed
}

TEST(Tokenizer, RefusesInvalidUtf8NamingTheOffset) {
  Tokenizer tokenizer = shared_tokenizer();
  const std::vector<std::pair<std::string, std::size_t>> cases = {
      {"abc\x80", 3},          {"ab\xC3", 2},
      {"a\xE2\x82", 1},        {"\xF0\x9F\x98", 0},
      {"xx\xC0\x80", 2},       {"x\xE0\x80\x80", 1},
      {"\xED\xA0\x80", 0},     {"hello \xF4\x90\x80\x80", 6},
      {"\xF5\x80\x80\x80", 0}, {"valid é then \xFF", 14}};
  for (const auto& [text, offset] : cases) {
    try {
      tokenizer.encode(text);
      ADD_FAILURE() << "accepted invalid UTF-8 at " << offset;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("not valid UTF-8 at byte offset " + std::to_string(offset)),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(Tokenizer, RefusesUnknownIds) {
  const Tokenizer& tokenizer = shared_tokenizer();
  try {
    tokenizer.decode(std::vector<TokenId>{15496, 50257});
    ADD_FAILURE() << "decoded id 50257";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("token id 50257 (at position 1)"), std::string::npos) << e.what();
  }
  StreamingDecoder decoder(tokenizer);
  decoder.push(15496);
  try {
    decoder.push(4000000000u);
    ADD_FAILURE() << "streamed id 4000000000";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("token id 4000000000 (at position 1)"), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, LongRunsWithoutSpacesAreFast) {
  // One piece of a megabyte: the merge heap keeps this well under a second.
  Tokenizer tokenizer = shared_tokenizer();
  std::string text;
  for (int i = 0; i < 1 << 18; ++i) text += "!?.,";
  const auto start = std::chrono::steady_clock::now();
  const auto ids = tokenizer.encode(text);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(tokenizer.decode(ids), text);
  EXPECT_LT(seconds, 10.0) << "quadratic merging?";
}

TEST(Tokenizer, PiecesLongerThanTheBoundAreMergedInChunksCutAtCharacters) {
  // Merging a whole piece of megabytes took some 25 bytes of memory per byte: a piece longer than
  // the bound is merged in chunks of at most that many bytes, each as a piece of its own would be.
  Tokenizer tokenizer = shared_tokenizer();
  const std::size_t bound = Tokenizer::max_merged_piece_bytes;
  // ASCII punctuation whose period does not divide the bound (so merges would cross the cuts),
  // and a three-byte character (U+2026), whose cuts must step back to a character boundary.
  for (const std::string& unit : {std::string("!@#$%^&*()"), std::string("\u2026")}) {
    std::string piece;
    while (piece.size() < 3 * bound + 1000) piece += unit;
    const std::size_t chunk_bytes = bound / unit.size() * unit.size();
    std::vector<TokenId> want;
    for (std::size_t start = 0; start < piece.size(); start += chunk_bytes) {
      const std::vector<TokenId> chunk = tokenizer.encode(std::string_view(piece).substr(start, chunk_bytes));
      want.insert(want.end(), chunk.begin(), chunk.end());
    }
    const std::vector<TokenId> got = tokenizer.encode(piece);
    EXPECT_TRUE(got == want) << unit << ": " << got.size() << " tokens, the chunks give " << want.size();
    EXPECT_EQ(tokenizer.decode(got), piece);
  }
  // A piece of exactly the bound is merged whole.
  const std::string at_bound(bound, '!');
  Tokenizer fresh = shared_tokenizer();
  EXPECT_EQ(fresh.decode(fresh.encode(at_bound)), at_bound);
}

TEST(Tokenizer, EncodesInRunsTheSameTokens) {
  std::mt19937_64 rng(5);
  std::string text = test::read_file(test::tinystories_file("TinyStories-valid-sample.txt")) + random_text(rng, 5000);
  for (int i = 0; i < 20000; ++i) text += "!@#$%^&*()";  // one piece of 200 kB, 0.8 tokens a byte
  text += "<|endoftext|> end";
  Tokenizer tokenizer = shared_tokenizer();
  const std::vector<TokenId> want = tokenizer.encode(text);
  for (const std::size_t run_tokens : {std::size_t{1}, std::size_t{1000}, std::size_t{1} << 30}) {
    std::vector<std::vector<TokenId>> runs;
    tokenizer.encode(text, run_tokens,
                     [&](std::span<const TokenId> run) { runs.emplace_back(run.begin(), run.end()); });
    std::vector<TokenId> got;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      if (i + 1 < runs.size()) {
        EXPECT_GE(runs[i].size(), run_tokens);
      }
      // At most one piece, or one chunk of a long piece (the punctuation is one piece), past the mark.
      EXPECT_LE(runs[i].size(), std::min(run_tokens + Tokenizer::max_merged_piece_bytes, want.size()));
      got.insert(got.end(), runs[i].begin(), runs[i].end());
    }
    EXPECT_TRUE(got == want) << run_tokens;
  }
  EXPECT_THROW(tokenizer.encode("ok \xFF", 10, [](std::span<const TokenId>) {}), InvalidUtf8Error);
}

TEST(Tokenizer, CopiesEncodeConcurrentlyAlike) {
  std::mt19937_64 rng(3);
  const std::string text =
      random_text(rng, 20000) + test::read_file(test::tinystories_file("TinyStories-valid-sample.txt"));
  Tokenizer single = shared_tokenizer();
  const auto want = single.encode(text);
  std::vector<std::vector<TokenId>> got(3);
  std::vector<std::thread> threads;
  for (auto& out : got) {
    threads.emplace_back([&text, &out] {
      Tokenizer own = shared_tokenizer();
      for (int repeat = 0; repeat < 2; ++repeat) out = own.encode(text);  // the second from the cache
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& out : got) EXPECT_EQ(out, want);
}

TEST(PieceCache, FindsWhatWasInsertedAndStartsAgainWhenFull) {
  PieceCache cache(4);
  const std::vector<TokenId> a{1, 2}, b{3};
  cache.insert("hello", a);
  cache.insert(" world", b);
  EXPECT_EQ(std::vector<TokenId>(cache.find("hello").begin(), cache.find("hello").end()), a);
  EXPECT_EQ(std::vector<TokenId>(cache.find(" world").begin(), cache.find(" world").end()), b);
  EXPECT_TRUE(cache.find("hell").empty());
  for (int i = 0; i < 10; ++i) cache.insert("piece" + std::to_string(i), b);
  EXPECT_LE(cache.size(), 4u);
  EXPECT_TRUE(cache.find(std::string(PieceCache::max_piece_bytes + 1, 'x')).empty());
}

TEST(ByteLevel, IsGpt2sAlphabet) {
  const auto map = byte_level::byte_to_code_point();
  EXPECT_EQ(map[' '], U'\u0120');  // 'Ġ'
  EXPECT_EQ(map['\n'], U'\u010A');
  EXPECT_EQ(map['a'], U'a');
  EXPECT_EQ(map[0xAD], U'\u0143');
  std::vector<char32_t> sorted(map.begin(), map.end());
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
}

// Broken vocabulary files: a DataError naming the file.
class VocabularyFiles : public test::TempDirTest {
 protected:
  void write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name, std::ios::binary) << content;
  }
  void copy_originals() {
    write("encoder.json", test::read_file(kVocabDir / "encoder.json"));
    write("vocab.bpe", test::read_file(kVocabDir / "vocab.bpe"));
  }
  void expect_refused(const std::vector<std::string>& fragments) {
    try {
      Vocabulary::load(dir_);
      ADD_FAILURE() << "loaded";
    } catch (const DataError& e) {
      for (const auto& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
    }
  }
};

TEST_F(VocabularyFiles, MissingFilesAreNamed) {
  expect_refused({"encoder.json", "does not exist"});
  copy_originals();
  fs::remove(dir_ / "vocab.bpe");
  expect_refused({"vocab.bpe", "does not exist"});
}

TEST_F(VocabularyFiles, MalformedEncoderIsNamed) {
  copy_originals();
  const std::string encoder = test::read_file(kVocabDir / "encoder.json");
  write("encoder.json", encoder.substr(0, encoder.size() / 2));
  expect_refused({"encoder.json", "not valid JSON"});
  write("encoder.json", "[1, 2, 3]");
  expect_refused({"encoder.json", "JSON object"});
  std::string wrong_id = encoder;
  wrong_id.replace(wrong_id.find("\"!\": 0"), 6, "\"!\": -5");
  write("encoder.json", wrong_id);
  expect_refused({"encoder.json", "\"!\"", "-5"});
  std::string duplicate = encoder;
  duplicate.replace(duplicate.find("\"!\": 0"), 6, "\"!\": 1");
  write("encoder.json", duplicate);
  expect_refused({"encoder.json", "another token"});
}

TEST_F(VocabularyFiles, MergesThatDisagreeAreNamed) {
  copy_originals();
  const std::string merges = test::read_file(kVocabDir / "vocab.bpe");
  write("vocab.bpe", merges.substr(merges.find('\n') + 1));
  expect_refused({"vocab.bpe", "#version"});
  // Swap the first two merges: their ranks no longer match encoder.json's ids.
  std::istringstream in(merges);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::swap(lines[1], lines[2]);
  std::string swapped;
  for (const auto& line : lines) swapped += line + "\n";
  write("vocab.bpe", swapped);
  expect_refused({"vocab.bpe: line 2", "rank 0"});
  lines[1] = "onlyonepart";
  swapped.clear();
  for (const auto& line : lines) swapped += line + "\n";
  write("vocab.bpe", swapped);
  expect_refused({"vocab.bpe: line 2", "two tokens"});
}

// Arbitrary bytes in, nothing but success or an InputError out; run under the sanitizers too.
TEST(TokenizerFuzz, ArbitraryBytesEncodeOrAreRefused) {
  Tokenizer tokenizer = shared_tokenizer();
  std::mt19937_64 rng(2026);
  const int iterations = test::fuzz_iterations(3000);
  int refused = 0;
  for (int i = 0; i < iterations; ++i) {
    std::string bytes(rng() % 300, '\0');
    const bool mostly_valid = rng() % 2;
    if (mostly_valid) {
      bytes = random_text(rng, rng() % 200);
      if (!bytes.empty() && rng() % 4 == 0) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    } else {
      for (char& b : bytes) b = static_cast<char>(rng());
    }
    const bool valid = utf8::first_invalid(bytes) == std::string_view::npos;
    try {
      const auto ids = tokenizer.encode(bytes, rng() % 2 ? SpecialTokens::allowed : SpecialTokens::as_text);
      ASSERT_TRUE(valid) << "encoded invalid UTF-8, iteration " << i;
      ASSERT_EQ(tokenizer.decode_bytes(ids), bytes) << "iteration " << i;
    } catch (const InputError&) {
      ASSERT_FALSE(valid) << "refused valid UTF-8, iteration " << i;
      ++refused;
    }
    // Decode arbitrary ids, some out of range.
    std::vector<TokenId> ids(rng() % 20);
    for (TokenId& id : ids) id = rng() % 8 == 0 ? static_cast<TokenId>(rng()) : rng() % 50257;
    try {
      const std::string text = tokenizer.decode(ids);
      ASSERT_EQ(utf8::first_invalid(text), std::string_view::npos);
      StreamingDecoder decoder(tokenizer);
      std::string streamed;
      for (TokenId id : ids) streamed += decoder.push(id);
      ASSERT_EQ(streamed + decoder.finish(), text) << "iteration " << i;
    } catch (const InputError&) {
      ASSERT_TRUE(std::any_of(ids.begin(), ids.end(), [](TokenId id) { return id >= 50257; }));
    }
  }
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace gpt
