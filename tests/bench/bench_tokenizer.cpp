// Single-thread encode throughput of our tokenizer on TinyStories text, with the convention of
// the token files: the text cut into stories at `<|endoftext|>`, each stripped and encoded, one
// token 50256 before each. Prints `ours: <MB/s> MB/s <tokens> tokens` (the best of --repeat runs,
// each with a fresh piece cache), the line tests/bench/bench_tokenizer.py reads.
//   bench_tokenizer --text FILE [--repeat N] [--vocab-dir DIR]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "data/prepare/story_reader.h"
#include "data/tokenizer/tokenizer.h"
#include "tests/support/test_data.h"

int main(int argc, char** argv) {
  CLI::App app("Single-thread encode throughput of the GPT-2 tokenizer");
  std::string text_path, vocab_dir = (gpt::test::data_dir() / "gpt2").string();
  int repeat = 3;
  app.add_option("--text", text_path, "TinyStories text")->required();
  app.add_option("--repeat", repeat, "runs; the best is printed")->check(CLI::Range(1, 100));
  app.add_option("--vocab-dir", vocab_dir);
  CLI11_PARSE(app, argc, argv);

  std::ifstream file(text_path, std::ios::binary);
  std::ostringstream content;
  content << file.rdbuf();
  const std::string text = content.str();
  std::vector<std::string_view> stories;
  std::size_t story_bytes = 0;
  gpt::for_each_story(text, [&](std::string_view story, std::size_t) {
    stories.push_back(story);
    story_bytes += story.size();
  });

  const gpt::Tokenizer loaded = gpt::Tokenizer::load(vocab_dir);
  double best = 0;
  std::size_t tokens = 0;
  for (int run = 0; run < repeat; ++run) {
    gpt::Tokenizer tokenizer = loaded;  // an empty cache each run
    std::vector<gpt::TokenId> out;
    out.reserve(story_bytes / 2);
    const auto start = std::chrono::steady_clock::now();
    for (std::string_view story : stories) {
      out.push_back(tokenizer.end_of_text());
      tokenizer.encode(story, out);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, double(story_bytes) / seconds / 1e6);
    tokens = out.size();
  }
  std::printf("ours: %.2f MB/s %zu tokens (%zu stories, %.1f MB, best of %d, PCRE2 JIT %s)\n", best, tokens,
              stories.size(), double(story_bytes) / 1e6, repeat, loaded.jit() ? "on" : "off");
  return 0;
}
