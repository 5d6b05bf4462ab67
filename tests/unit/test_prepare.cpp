// prepare's pieces: stories cut and stripped as the reference files were made, the JSON shard
// reader, the token file writer, and the pipeline (the reference files reproduced, the same
// output for any thread count, the validation split, refusals that leave nothing behind).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/errors.h"
#include "data/prepare/prepare.h"
#include "data/prepare/progress.h"
#include "data/prepare/story_reader.h"
#include "data/token_file.h"
#include "data/token_file_writer.h"
#include "tests/support/read_file.h"
#include "tests/support/temp_dir_test.h"
#include "tests/support/test_data.h"

namespace gpt {
namespace {

namespace fs = std::filesystem;

const Tokenizer& shared_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::load(test::data_dir() / "gpt2");
  return tokenizer;
}

std::vector<std::string> stories_of(std::string_view text) {
  std::vector<std::string> out;
  for_each_story(text, [&](std::string_view story, std::size_t offset) {
    EXPECT_EQ(text.substr(offset, story.size()), story);
    out.emplace_back(story);
  });
  return out;
}

TEST(StoryReader, StripsAsPythonsStrip) {
  // str.strip() removes these (str.isspace()), and nothing else.
  EXPECT_EQ(
      strip_story(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f a b \u0085\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"),
      "a b");
  EXPECT_EQ(strip_story("\u200bzero width\u200b"), "\u200bzero width\u200b");  // not white space
  EXPECT_EQ(strip_story("\ufeffbom"), "\ufeffbom");
  EXPECT_EQ(strip_story("   "), "");
  EXPECT_EQ(strip_story(" \xC3"), "\xC3");  // an invalid end is left for the UTF-8 check
  EXPECT_EQ(strip_story("\x80 x "), "\x80 x");
}

TEST(StoryReader, CutsAtEndOfTextAndDropsEmptyStories) {
  EXPECT_EQ(stories_of("one\n<|endoftext|>\n two \n<|endoftext|>\n\n<|endoftext|>three"),
            (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(stories_of("<|endoftext|>a<|endoftext|>"), std::vector<std::string>{"a"});
  EXPECT_TRUE(stories_of("").empty());
}

class StoryReaderFiles : public test::TempDirTest {};

TEST_F(StoryReaderFiles, ReadsAStoryLongerThanManyBlocksInOnePass) {
  // The reader once searched all it held for a separator after every block: quadratic in a long
  // story (minutes for 6 MB in 1000-byte blocks). The story is handed on whole, in one batch.
  const std::string long_story(6'000'000, 'x');
  std::ofstream(dir_ / "long.txt", std::ios::binary) << "short one\n<|endoftext|>\n"
                                                     << long_story << "\n<|endoftext|>\nlast";
  std::vector<std::string> stories;
  std::vector<std::uint64_t> offsets;
  const auto start = std::chrono::steady_clock::now();
  read_stories({dir_ / "long.txt"}, 1000, [&](StoryBatch&& batch) {
    for (const auto& story : batch.stories) {
      stories.push_back(batch.text.substr(story.offset, story.length));
      offsets.push_back(story.source_offset);
    }
    return true;
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0) << "rescanning what was read for every block?";
  ASSERT_EQ(stories.size(), 3u);
  EXPECT_EQ(stories[0], "short one");
  EXPECT_TRUE(stories[1] == long_story);
  EXPECT_EQ(stories[2], "last");
  EXPECT_EQ(offsets, (std::vector<std::uint64_t>{0, 24, 24 + long_story.size() + 15}));
}

class Prepare : public test::TempDirTest {
 protected:
  PrepareOptions options(std::vector<fs::path> inputs, int threads = 2) {
    PrepareOptions o;
    o.inputs = std::move(inputs);
    o.output = dir_ / "out.bin";
    o.threads = threads;
    return o;
  }
  void write(const fs::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }
  // Nothing but `keep` in the folder: no output and no temporary file after a failure.
  void expect_only(const std::vector<std::string>& keep) {
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      EXPECT_NE(std::find(keep.begin(), keep.end(), name), keep.end()) << "left behind: " << name;
    }
  }
  std::string refused(const PrepareOptions& o) {
    try {
      prepare(o, shared_tokenizer());
    } catch (const InputError& e) {
      return e.what();
    }
    ADD_FAILURE() << "prepare accepted it";
    return "";
  }
  const fs::path train_txt_ = test::tinystories_file("TinyStories-train-sample.txt");
  const fs::path valid_txt_ = test::tinystories_file("TinyStories-valid-sample.txt");
  const fs::path train_bin_ = test::tinystories_file("TinyStories-train-sample.bin");
  const fs::path valid_bin_ = test::tinystories_file("TinyStories-valid-sample.bin");
};

TEST_F(Prepare, ReproducesTheReferenceFilesForAnyThreadCount) {
  for (int threads : {1, 2, 3, 8}) {
    PrepareOptions o = options({train_txt_}, threads);
    o.batch_bytes = 4096 * threads;  // many batches, finishing out of order
    const PrepareSummary s = prepare(o, shared_tokenizer());
    EXPECT_EQ(s.stories, 2316u);
    EXPECT_EQ(s.tokens, 502585u);
    EXPECT_TRUE(test::read_file(o.output) == test::read_file(train_bin_)) << threads << " threads";
  }
  PrepareOptions o = options({valid_txt_});
  prepare(o, shared_tokenizer());
  EXPECT_TRUE(test::read_file(o.output) == test::read_file(valid_bin_));
}

TEST_F(Prepare, RawFilesAreTheTokensAlone) {
  PrepareOptions o = options({train_txt_, valid_txt_});
  o.format = TokenFileFormat::raw;
  prepare(o, shared_tokenizer());
  const std::string train = test::read_file(train_bin_), valid = test::read_file(valid_bin_);
  EXPECT_TRUE(test::read_file(o.output) ==
              train.substr(llmc_format::header_bytes) + valid.substr(llmc_format::header_bytes));
  EXPECT_EQ(TokenFile(o.output, 50257).format(), TokenFileFormat::raw);
}

TEST_F(Prepare, JsonShardsGiveTheSameTokensAsText) {
  // A shard as Hugging Face publishes them: objects with other fields beside "story".
  nlohmann::json shard = nlohmann::json::array();
  for (const std::string& story : stories_of(test::read_file(valid_txt_))) {
    shard.push_back({{"story", "\n " + story + " \n"},
                     {"instruction", {{"prompt:", "Write a story."}, {"words", {"a", "b"}}}},
                     {"summary", "x"},
                     {"source", "GPT-4"}});
  }
  write(dir_ / "data00.json", shard.dump());
  PrepareOptions o = options({dir_ / "data00.json"});
  o.batch_bytes = 10000;
  const PrepareSummary s = prepare(o, shared_tokenizer());
  EXPECT_EQ(s.stories, 1000u);
  EXPECT_TRUE(test::read_file(o.output) == test::read_file(valid_bin_));
}

TEST_F(Prepare, JsonLinesGiveTheSameTokensAsText) {
  std::string lines;
  for (const std::string& story : stories_of(test::read_file(valid_txt_))) {
    lines += nlohmann::json({{"story", "\n " + story + " \n"}, {"summary", "x"}}).dump() + "\n";
    if (lines.size() % 7 == 0) lines += "\n";  // blank lines are skipped
  }
  write(dir_ / "valid.jsonl", lines);
  PrepareOptions o = options({dir_ / "valid.jsonl"});
  o.batch_bytes = 10000;
  const PrepareSummary s = prepare(o, shared_tokenizer());
  EXPECT_EQ(s.stories, 1000u);
  EXPECT_TRUE(test::read_file(o.output) == test::read_file(valid_bin_));
}

TEST_F(Prepare, MalformedJsonLinesAreNamedWithTheLine) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"story\": \"a\"}\n{\"story\": \"b\"", "line 2 is not valid JSON at byte"},
      {"{\"story\": \"a\"}\n\n{\"summary\": \"b\"}\n", "line 3 has no \"story\" string"},
      {"{\"story\": 5}\n", "line 1 has a \"story\" that is a number"},
      {"[\"a\"]\n", "line 1 is an array, not an object"},
      {"{\"story\": \"\xFF\"}\n", "line 1 is not valid JSON"},
      {"[{\"story\": \"a\"}, {\"story\": \"b\"}]", "line 1 is an array"},  // a shard named .jsonl
  };
  for (const auto& [content, fragment] : cases) {
    write(dir_ / "bad.jsonl", content);
    const std::string message = refused(options({dir_ / "bad.jsonl"}));
    EXPECT_NE(message.find("bad.jsonl"), std::string::npos) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
    expect_only({"bad.jsonl"});
  }
}

TEST_F(Prepare, RefusesNamesItDoesNotRead) {
  for (const std::string name : {"stories.csv", "stories", "stories.json.gz", "stories.TXT"}) {
    write(dir_ / name, "Once upon a time.");
    const std::string message = refused(options({train_txt_, dir_ / name}));
    EXPECT_NE(message.find(name + " is not .txt, .json or .jsonl"), std::string::npos) << message;
    expect_only({name});
    fs::remove(dir_ / name);
  }
}

TEST_F(Prepare, RefusesInputsWithoutAStory) {
  write(dir_ / "empty.txt", "");
  write(dir_ / "blank.txt", " \n<|endoftext|>\n\n<|endoftext|>\n");
  write(dir_ / "empty.json", "[]");
  write(dir_ / "empty.jsonl", "\n");
  for (const std::string name : {"empty.txt", "blank.txt", "empty.json", "empty.jsonl"}) {
    const std::string message = refused(options({dir_ / name}));
    EXPECT_NE(message.find(name + " holds no story"), std::string::npos) << message;
  }
  EXPECT_NE(refused(options({dir_ / "empty.txt", dir_ / "empty.json"})).find("none of the 2 inputs holds a story"),
            std::string::npos);
  // A split that leaves the validation file empty: 3 stories, one in 10 to validation.
  write(dir_ / "three.txt", "a\n<|endoftext|>\nb\n<|endoftext|>\nc\n");
  PrepareOptions o = options({dir_ / "three.txt"});
  o.val_fraction = 0.1;
  o.val_output = dir_ / "val.bin";
  const std::string message = refused(o);
  EXPECT_NE(message.find("--val-fraction 0.1 of the 3 stories puts none in --val-output"), std::string::npos)
      << message;
  expect_only({"empty.txt", "blank.txt", "empty.json", "empty.jsonl", "three.txt"});
}

TEST_F(Prepare, MalformedShardsAreNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"story\": \"a\"}", "not a JSON array"},
      {"[{\"story\": \"a\"}, {\"summary\": \"b\"}]", "element 1 has no \"story\""},
      {"[{\"story\": 5}]", "element 0's \"story\" is a number"},
      {"[{\"story\": [\"a\"]}]", "element 0's \"story\" is an array"},
      {"[\"just a string\"]", "element 0 is a string"},
      {"[{\"story\": \"a\"}, ", "not valid JSON"},
      {"[{\"story\": \"\xFF\"}]", "not valid JSON"},
  };
  for (const auto& [content, fragment] : cases) {
    write(dir_ / "bad.json", content);
    const std::string message = refused(options({dir_ / "bad.json"}));
    EXPECT_NE(message.find("bad.json"), std::string::npos) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
    expect_only({"bad.json"});
  }
}

TEST_F(Prepare, SplitsValidationStoriesEvenly) {
  PrepareOptions o = options({train_txt_});
  o.val_fraction = 0.1;
  o.val_output = dir_ / "val.bin";
  o.batch_bytes = 8192;
  const PrepareSummary s = prepare(o, shared_tokenizer());
  EXPECT_EQ(s.val_stories, 231u);  // floor(2316 * 0.1)
  EXPECT_EQ(s.stories + s.val_stories, 2316u);
  EXPECT_EQ(s.tokens + s.val_tokens, 502585u);
  const TokenFile train(o.output, 50257), val(o.val_output, 50257);
  EXPECT_EQ(train.size(), s.tokens);
  EXPECT_EQ(std::count(val.tokens().begin(), val.tokens().end(), 50256), 231);
  // The same split with one thread.
  const std::string val_bytes = test::read_file(o.val_output);
  o.threads = 1;
  prepare(o, shared_tokenizer());
  EXPECT_TRUE(test::read_file(o.val_output) == val_bytes);
}

TEST_F(Prepare, InvalidUtf8IsRefusedWithItsFileOffsetAndLeavesNothing) {
  std::string text = test::read_file(valid_txt_);
  const std::size_t offset = 300000;
  text[offset] = '\xFF';
  write(dir_ / "broken.txt", text);
  PrepareOptions o = options({dir_ / "broken.txt"});
  o.batch_bytes = 4096;
  const std::string message = refused(o);
  EXPECT_NE(message.find("broken.txt is not valid UTF-8 at byte offset " + std::to_string(offset)), std::string::npos)
      << message;
  expect_only({"broken.txt"});
}

TEST_F(Prepare, RefusesBadOptions) {
  EXPECT_NE(refused(options({dir_ / "missing.txt"})).find("missing.txt does not exist"), std::string::npos);
  PrepareOptions o = options({train_txt_});
  o.val_fraction = 0.1;
  EXPECT_NE(refused(o).find("--val-fraction 0.1 needs --val-output"), std::string::npos);
  o.val_fraction = 0;
  o.val_output = dir_ / "v.bin";
  EXPECT_NE(refused(o).find("--val-output " + o.val_output.string() + " needs a --val-fraction above 0"),
            std::string::npos);
  o.val_fraction = 0.1;
  o.val_output = o.output;
  EXPECT_NE(refused(o).find("same file"), std::string::npos);
  o = options({train_txt_});
  o.val_fraction = 1.5;
  o.val_output = dir_ / "v.bin";
  EXPECT_NE(refused(o).find("--val-fraction"), std::string::npos);
  write(dir_ / "in.txt", "story");
  o = options({dir_ / "in.txt"});
  o.output = dir_ / "in.txt";
  EXPECT_NE(refused(o).find("is the input"), std::string::npos);
  o = options({train_txt_});
  o.output = dir_ / "no_such_folder" / "out.bin";
  EXPECT_NE(refused(o).find("no_such_folder"), std::string::npos);
  // The command line's range for --batch-mb is the library's: 0.001 MB is accepted, less refused.
  o = options({dir_ / "in.txt"});
  o.batch_bytes = PrepareOptions::min_batch_bytes;
  EXPECT_EQ(prepare(o, shared_tokenizer()).stories, 1u);
  fs::remove(o.output);
  o.batch_bytes = PrepareOptions::min_batch_bytes - 1;
  EXPECT_NE(refused(o).find("--batch-mb must be from 0.001 to 1024, not 0.000999"), std::string::npos) << refused(o);
  expect_only({"in.txt"});
}

TEST_F(Prepare, RefusesOutputsThatAreNotRegularFilesAndFollowsLinksToFiles) {
  write(dir_ / "in.txt", "Once upon a time.");
  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0644), 0);
  fs::create_directory(dir_ / "folder");
  fs::create_symlink("nowhere.bin", dir_ / "dangling.bin");
  fs::create_symlink("fifo", dir_ / "to_fifo.bin");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"fifo", "fifo: is a FIFO"},
      {"folder", "folder: is a folder; name the token file itself"},
      {"dangling.bin", "dangling.bin: is a symbolic link to nowhere.bin, which does not exist"},
      {"to_fifo.bin", "to_fifo.bin: is a symbolic link to fifo, which is a FIFO"},
  };
  for (const auto& [name, fragment] : cases) {
    for (const bool as_val : {false, true}) {
      PrepareOptions o = options({dir_ / "in.txt"});
      if (as_val) {
        o.val_fraction = 0.5;
        o.val_output = dir_ / name;
      } else {
        o.output = dir_ / name;
      }
      const std::string message = refused(o);
      EXPECT_NE(message.find(fragment), std::string::npos) << message;
    }
  }
  EXPECT_TRUE(fs::is_fifo(dir_ / "fifo"));
  EXPECT_TRUE(fs::is_symlink(dir_ / "dangling.bin"));
  expect_only({"in.txt", "fifo", "folder", "dangling.bin", "to_fifo.bin"});
  EXPECT_TRUE(fs::is_empty(dir_ / "folder"));

  // A link to a regular file: that file is written, through its temporary beside it; the link stays.
  fs::create_directory(dir_ / "real");
  write(dir_ / "real" / "train.bin", "old");
  fs::create_symlink("real/train.bin", dir_ / "link.bin");
  PrepareOptions o = options({valid_txt_});
  o.output = dir_ / "link.bin";
  prepare(o, shared_tokenizer());
  EXPECT_TRUE(fs::is_symlink(dir_ / "link.bin"));
  EXPECT_TRUE(test::read_file(dir_ / "real" / "train.bin") == test::read_file(valid_bin_));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "real"), fs::directory_iterator()), 1);
  // --val-output through a link to --output is the same file.
  o.val_fraction = 0.5;
  o.val_output = dir_ / "real" / "train.bin";
  EXPECT_NE(refused(o).find("same file"), std::string::npos);
}

TEST_F(Prepare, StopsWhenAskedAndLeavesNothing) {
  PrepareOptions o = options({train_txt_});
  o.batch_bytes = 4096;
  int polls = 0;
  o.stop_requested = [&] { return ++polls > 5; };
  EXPECT_THROW(prepare(o, shared_tokenizer()), PrepareInterrupted);
  expect_only({});
}

TEST_F(Prepare, ReportsProgressUpToTheWholeInput) {
  PrepareOptions o = options({train_txt_, valid_txt_});
  o.batch_bytes = 65536;
  std::vector<PrepareProgress> seen;
  o.on_progress = [&](const PrepareProgress& p) { seen.push_back(p); };
  prepare(o, shared_tokenizer());
  ASSERT_GT(seen.size(), 10u);
  for (std::size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i].bytes_done, seen[i - 1].bytes_done);
  EXPECT_EQ(seen.back().bytes_done, fs::file_size(train_txt_) + fs::file_size(valid_txt_));
  EXPECT_EQ(seen.back().bytes_total, seen.back().bytes_done);
  EXPECT_EQ(seen.back().stories, 3316u);
}

TEST(ProgressDisplay, PrintsPlainLinesAtTheIntervalOffATerminal) {
  std::FILE* out = std::tmpfile();
  ProgressDisplay display(out, false, 1.0);
  for (int i = 0; i <= 40; ++i) {
    display.update({.bytes_done = std::uint64_t(i) * 5'000'000,
                    .bytes_total = 200'000'000,
                    .stories = 10u * i,
                    .seconds = i * 0.25});
  }
  display.finish();
  std::rewind(out);
  std::string text(4096, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), out));
  std::fclose(out);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 10) << text;  // at 1 s, 2 s, ... 10 s
  EXPECT_NE(text.find("prepare: 100.0% 200.0/200.0 MB  20.0 MB/s  400 stories  ETA 0 s"), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(
      ProgressDisplay::describe({.bytes_done = 50'000'000, .bytes_total = 1'950'000'000, .stories = 7, .seconds = 1}),
      "  2.6% 50.0/1950.0 MB  50.0 MB/s  7 stories  ETA 38 s");
}

class TokenFileWriterFiles : public test::TempDirTest {};

TEST_F(TokenFileWriterFiles, WritesWhatTokenFileReadsAndRemovesAnUncommittedFile) {
  const fs::path path = dir_ / "writer_test.bin";
  std::vector<std::uint16_t> tokens(1'500'000);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::uint16_t>(i % 50257);
  {
    TokenFileWriter writer(path, TokenFileFormat::llmc);
    writer.append(std::span(tokens).first(1000));
    writer.append(std::span(tokens).subspan(1000));
    EXPECT_FALSE(fs::exists(path));
    EXPECT_TRUE(fs::exists(writer.temporary_path()));
    writer.commit();
  }
  const TokenFile file(path, 50257);
  EXPECT_EQ(file.format(), TokenFileFormat::llmc);
  EXPECT_TRUE(std::equal(file.tokens().begin(), file.tokens().end(), tokens.begin(), tokens.end()));
  fs::path temporary;
  {
    TokenFileWriter abandoned(path.string() + ".2", TokenFileFormat::raw);
    abandoned.append(tokens);
    temporary = abandoned.temporary_path();
  }
  EXPECT_FALSE(fs::exists(temporary));
  EXPECT_FALSE(fs::exists(path.string() + ".2"));
}

TEST_F(TokenFileWriterFiles, RemovesTheTemporariesOfDeadWritersOnly) {
  // A process that has exited (and been waited for): its pid names no live process.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  const fs::path out = dir_ / "out.bin";
  const std::string dead = "out.bin.tmp-" + std::to_string(child);
  const std::string live = "out.bin.tmp-" + std::to_string(::getppid());  // the test's parent lives
  const std::vector<std::string> kept = {live, "out.bin.tmp-12ab", "out.bin.tmp-",
                                         "other.bin.tmp-" + std::to_string(child)};
  for (const auto& name : kept) std::ofstream(dir_ / name) << "x";
  std::ofstream(dir_ / dead) << "x";
  {
    TokenFileWriter writer(out, TokenFileFormat::raw);
    EXPECT_FALSE(fs::exists(dir_ / dead));
    for (const auto& name : kept) EXPECT_TRUE(fs::exists(dir_ / name)) << name;
    writer.commit();
  }
  EXPECT_TRUE(fs::exists(out));
}

}  // namespace
}  // namespace gpt

namespace gpt {
namespace {

// The writer can finish the last batch before the reader says it has no more: close() must wake
// it then (it once did not, and prepare hung about once in many thousand runs under load). Many
// tiny runs, each a single batch, make that order common.
TEST_F(Prepare, FinishesWhenTheLastBatchIsWrittenBeforeTheReaderCloses) {
  write(dir_ / "one.txt", "Once upon a time there was a cat.\n");
  for (int run = 0; run < 3000; ++run) {
    PrepareOptions o = options({dir_ / "one.txt"}, 1);
    const PrepareSummary s = prepare(o, shared_tokenizer());
    ASSERT_EQ(s.stories, 1u) << "run " << run;
  }
}

}  // namespace
}  // namespace gpt
