// `prepare --input FILE... --output train.bin [--format llmc|raw] [--threads N]
//          [--val-fraction F --val-output val.bin] [--vocab-dir DIR]`:
// TinyStories text (.txt), Hugging Face JSON shards (.json) or JSON Lines (.jsonl) to the token
// files `train` reads.
// Exit codes: 0 done, 2 bad input (command line, input file, vocabulary), 1 internal failure or
// stopped by a signal (SIGINT, SIGTERM); no output file is left behind unless it succeeded.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/cpu_count.h"
#include "core/errors.h"
#include "data/prepare/prepare.h"
#include "data/prepare/progress.h"
#include "data/tokenizer/default_vocabulary.h"
#include "launch/exit_codes.h"
#include "launch/stop_signals.h"

int main(int argc, char** argv) {
  static gpt::StopSignals& stop_signals = *new gpt::StopSignals({SIGINT, SIGTERM});  // see stop_signals.h

  CLI::App app("Tokenizes TinyStories (.txt, Hugging Face .json shards, or .jsonl) into GPT-2 token files for train.");
  gpt::PrepareOptions options;
  std::vector<std::string> inputs;
  std::string output, val_output, format = "llmc", vocab_dir = gpt::default_vocabulary_dir().string();
  int threads = 0;
  double batch_mb = 1;
  bool quiet = false;
  double progress_interval = 10;
  app.add_option("--input", inputs, "TinyStories .txt files, .json shards or .jsonl files, in this order")
      ->required()
      ->expected(1, -1);
  app.add_option("--output", output, "the token file to write")->required();
  app.add_option("--format", format, "llmc (llm.c's header, the default) or raw (headerless uint16)")
      ->check(CLI::IsMember({"llmc", "raw"}));
  app.add_option("--threads", threads, "tokenizing threads (default: every CPU this process may use)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--val-fraction", options.val_fraction, "share of the stories for --val-output, spread evenly");
  app.add_option("--val-output", val_output, "the validation token file");
  app.add_option("--vocab-dir", vocab_dir, "folder with GPT-2's encoder.json and vocab.bpe");
  app.add_option("--batch-mb", batch_mb, "megabytes of text per work item (memory grows with threads x this)")
      ->check(CLI::Range(gpt::PrepareOptions::min_batch_bytes / 1e6, gpt::PrepareOptions::max_batch_bytes / 1e6));
  app.add_flag("--quiet", quiet, "no progress display");
  app.add_option("--progress-interval", progress_interval,
                 "seconds between progress lines when stderr is not a terminal (default 10)")
      ->check(CLI::Range(0.0, 86400.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return gpt::command_line_exit(app, e, "prepare");
  }

  options.inputs.assign(inputs.begin(), inputs.end());
  options.output = output;
  options.val_output = val_output;
  options.format = format == "raw" ? gpt::TokenFileFormat::raw : gpt::TokenFileFormat::llmc;
  options.threads = threads > 0 ? threads : gpt::cpu::available_cpus();
  options.batch_bytes = static_cast<std::size_t>(std::llround(batch_mb * 1e6));
  options.stop_requested = [] { return stop_signals.requested(); };
  gpt::ProgressDisplay display(stderr, isatty(STDERR_FILENO) == 1, progress_interval);
  if (!quiet) options.on_progress = [&](const gpt::PrepareProgress& p) { display.update(p); };

  return gpt::exit_code_of(
      [&] {
        const gpt::Tokenizer tokenizer = gpt::Tokenizer::load(vocab_dir);
        const gpt::PrepareSummary s = gpt::prepare(options, tokenizer);
        display.finish();
        std::printf("prepare: %s: %llu tokens, %llu stories (%s)\n", output.c_str(),
                    static_cast<unsigned long long>(s.tokens), static_cast<unsigned long long>(s.stories),
                    format.c_str());
        if (!val_output.empty()) {
          std::printf("prepare: %s: %llu tokens, %llu stories (%s)\n", val_output.c_str(),
                      static_cast<unsigned long long>(s.val_tokens), static_cast<unsigned long long>(s.val_stories),
                      format.c_str());
        }
        std::printf("prepare: %.1f MB in %.2f s (%.1f MB/s, %d threads)\n", double(s.bytes) / 1e6, s.seconds,
                    s.seconds > 0 ? double(s.bytes) / 1e6 / s.seconds : 0.0, options.threads);
        return 0;
      },
      [&] { display.finish(); });
}
