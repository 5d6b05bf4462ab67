// `tokenize encode|decode|decode-stream [--allow-special] [--vocab-dir DIR] IN OUT`, or
// `tokenize info` (PCRE2's Unicode version): the
// tokenizer on one file, for the tests that compare it with tiktoken. encode writes the ids as
// little-endian uint32; decode and decode-stream read them and write the bytes (decode-stream
// through StreamingDecoder, one id at a time). Exit 0 done, 2 bad input, 1 internal failure.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/errors.h"
#include "data/tokenizer/streaming_decoder.h"
#include "data/tokenizer/tokenizer.h"
#include "tests/support/test_data.h"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw gpt::InputError("cannot read " + path);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

void write_file(const std::string& path, const void* data, std::size_t bytes) {
  std::ofstream file(path, std::ios::binary);
  file.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!file) throw std::runtime_error("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("The GPT-2 tokenizer on one file (a test tool)");
  std::string mode, in, out, vocab_dir = (gpt::test::data_dir() / "gpt2").string();
  bool allow_special = false;
  app.add_option("mode", mode, "encode, decode, decode-stream, or info (PCRE2's Unicode version)")
      ->required()
      ->check(CLI::IsMember({"encode", "decode", "decode-stream", "info"}));
  app.add_option("input", in);
  app.add_option("output", out);
  app.add_option("--vocab-dir", vocab_dir, "folder with encoder.json and vocab.bpe");
  app.add_flag("--allow-special", allow_special, "<|endoftext|> in the text is token 50256");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  if (mode == "info") {
    std::printf("pcre2_unicode %s\n", gpt::PreTokenizer::unicode_version().c_str());
    return 0;
  }
  if (in.empty() || out.empty()) {
    std::fprintf(stderr, "error: %s needs INPUT and OUTPUT\n", mode.c_str());
    return 2;
  }
  try {
    gpt::Tokenizer tokenizer = gpt::Tokenizer::load(vocab_dir);
    const std::string input = read_file(in);
    if (mode == "encode") {
      const auto ids =
          tokenizer.encode(input, allow_special ? gpt::SpecialTokens::allowed : gpt::SpecialTokens::as_text);
      write_file(out, ids.data(), ids.size() * sizeof(gpt::TokenId));
      return 0;
    }
    if (input.size() % sizeof(gpt::TokenId) != 0) throw gpt::InputError(in + ": not a whole number of uint32 ids");
    std::vector<gpt::TokenId> ids(input.size() / sizeof(gpt::TokenId));
    std::memcpy(ids.data(), input.data(), input.size());
    std::string text;
    if (mode == "decode") {
      text = tokenizer.decode(ids);
    } else {
      gpt::StreamingDecoder decoder(tokenizer);
      for (gpt::TokenId id : ids) text += decoder.push(id);
      text += decoder.finish();
    }
    write_file(out, text.data(), text.size());
    return 0;
  } catch (const gpt::InputError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
