#pragma once
// `prepare`'s work: TinyStories files in, token files out. The inputs are read in batches of
// stories (story_reader.h), `threads` workers tokenize the batches, and the tokens are written in
// the order of the input, so the files are the same for any number of threads. At most a few
// batches per thread are in memory at once, whatever the size of the input (a story longer than
// a batch is a batch of its own: memory grows with the longest story, held once).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <vector>

#include "data/token_file.h"
#include "data/tokenizer/tokenizer.h"

namespace gpt {

struct PrepareProgress {
  std::uint64_t bytes_done = 0, bytes_total = 0;  // of the inputs, as files
  std::uint64_t stories = 0, tokens = 0;
  double seconds = 0;
};

struct PrepareOptions {
  std::vector<std::filesystem::path> inputs;
  std::filesystem::path output;
  TokenFileFormat format = TokenFileFormat::llmc;
  int threads = 1;
  // A validation split: a fraction of the stories, spread evenly (story i goes to val_output
  // when floor((i + 1) * f) > floor(i * f)); 0 puts every story in output.
  double val_fraction = 0;
  std::filesystem::path val_output;
  std::size_t batch_bytes = 1 << 20;
  // --batch-mb's range (prepare's command line uses it too).
  static constexpr std::size_t min_batch_bytes = 1000, max_batch_bytes = 1024'000'000;
  std::function<bool()> stop_requested;                     // polled; may be empty
  std::function<void(const PrepareProgress&)> on_progress;  // after each batch; may be empty
};

struct PrepareSummary {
  std::uint64_t stories = 0, tokens = 0, val_stories = 0, val_tokens = 0, bytes = 0;
  double seconds = 0;
};

// stop_requested() turned true: nothing was written.
class PrepareInterrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Checks the options (InputError naming the option; an output that is not a regular file, or a
// link to one, is refused as TokenFileWriter says), then writes the files. Every story becomes
// token 50256 followed by its tokens (`<|endoftext|>` inside a story is ordinary text). Throws
// DataError naming the input and offset for input that is not valid UTF-8 or not the format its
// name says, and refuses to write a file with no story (empty inputs, or a --val-fraction that
// leaves the validation file empty). Leaves no output file (nor temporary file) behind on any
// failure.
PrepareSummary prepare(const PrepareOptions& options, const Tokenizer& tokenizer);

}  // namespace gpt
