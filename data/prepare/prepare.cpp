#include "data/prepare/prepare.h"

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "core/errors.h"
#include "data/prepare/story_reader.h"
#include "data/token_file_writer.h"

namespace gpt {
namespace {

struct EncodedBatch {
  std::vector<std::uint16_t> train, val;
  std::uint64_t stories = 0, val_stories = 0, input_bytes = 0;
};

// The pipeline's shared state: batches read but not yet taken by a worker, batches encoded but
// not yet written, and a bound on how many are anywhere between reading and writing.
class Pipeline {
 public:
  explicit Pipeline(std::size_t max_in_flight) : max_in_flight_(max_in_flight) {}

  // Reader: waits for room; false once the pipeline has failed.
  bool push(StoryBatch&& batch) {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [&] { return in_flight_ < max_in_flight_ || failed_; });
    if (failed_) return false;
    ++in_flight_;
    pending_.emplace_back(next_read_++, std::move(batch));
    work_.notify_one();
    return true;
  }
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    work_.notify_all();
    // The writer may have written the last batch already and be waiting to learn there is no more.
    written_.notify_all();
  }
  // Worker: the next batch to encode, or nothing when there is no more work.
  std::optional<std::pair<std::uint64_t, StoryBatch>> take() {
    std::unique_lock lock(mutex_);
    work_.wait(lock, [&] { return !pending_.empty() || closed_ || failed_; });
    if (failed_ || pending_.empty()) return std::nullopt;
    auto item = std::move(pending_.front());
    pending_.pop_front();
    return item;
  }
  void done(std::uint64_t sequence, EncodedBatch&& encoded) {
    std::lock_guard lock(mutex_);
    encoded_.emplace(sequence, std::move(encoded));
    written_.notify_all();
  }
  // Writer: the next batch in input order, or nothing once every batch is written or on failure.
  std::optional<EncodedBatch> next_in_order() {
    std::unique_lock lock(mutex_);
    written_.wait(lock,
                  [&] { return failed_ || encoded_.count(next_write_) || (closed_ && next_write_ == next_read_); });
    if (failed_ || !encoded_.count(next_write_)) return std::nullopt;
    EncodedBatch batch = std::move(encoded_.at(next_write_));
    encoded_.erase(next_write_++);
    --in_flight_;
    room_.notify_one();
    return batch;
  }
  // The first failure wins; everyone stops.
  void fail(std::exception_ptr error) {
    std::lock_guard lock(mutex_);
    if (!error_) error_ = error;
    failed_ = true;
    room_.notify_all();
    work_.notify_all();
    written_.notify_all();
  }
  std::exception_ptr error() {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable room_, work_, written_;
  std::size_t max_in_flight_, in_flight_ = 0;
  std::deque<std::pair<std::uint64_t, StoryBatch>> pending_;
  std::map<std::uint64_t, EncodedBatch> encoded_;
  std::uint64_t next_read_ = 0, next_write_ = 0;
  bool closed_ = false, failed_ = false;
  std::exception_ptr error_;
};

constexpr std::size_t kRunTokens = 1 << 14;

bool is_val_story(std::uint64_t index, double fraction) {
  return fraction > 0 &&
         std::floor(static_cast<double>(index + 1) * fraction) > std::floor(static_cast<double>(index) * fraction);
}

EncodedBatch encode_batch(const StoryBatch& batch, Tokenizer& tokenizer, const PrepareOptions& options) {
  EncodedBatch out;
  out.input_bytes = batch.input_bytes;
  // A token covers at least one byte: with room for that many, the vectors never grow by copying
  // (which would hold a long story's tokens twice); the pages not needed are never touched.
  const std::size_t most_tokens = batch.text.size() + batch.stories.size();
  out.train.reserve(most_tokens);
  if (options.val_fraction > 0) out.val.reserve(most_tokens);
  for (std::size_t i = 0; i < batch.stories.size(); ++i) {
    const StoryBatch::Story& story = batch.stories[i];
    const std::string_view text = std::string_view(batch.text).substr(story.offset, story.length);
    const bool val = is_val_story(batch.first_story + i, options.val_fraction);
    std::vector<std::uint16_t>& tokens = val ? out.val : out.train;
    ++(val ? out.val_stories : out.stories);
    tokens.push_back(static_cast<std::uint16_t>(tokenizer.end_of_text()));
    try {
      // In runs: a long story's tokens are never held twice (as TokenId, then as uint16).
      tokenizer.encode(text, kRunTokens, [&](std::span<const TokenId> run) {
        tokens.insert(tokens.end(), run.begin(), run.end());  // ids fit: checked in prepare()
      });
    } catch (const InvalidUtf8Error& e) {  // its offset is in the story: say where it is in the file
      throw DataError("the input " + options.inputs[batch.input].string() + " is not valid UTF-8 at byte offset " +
                      std::to_string(story.source_offset + e.offset()));
    }
  }
  return out;
}

std::string decimal(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

void check_options(const PrepareOptions& options, const Tokenizer& tokenizer) {
  if (options.inputs.empty()) throw InputError("prepare: no --input file");
  if (options.output.empty()) throw InputError("prepare: no --output file");
  if (options.threads < 1) throw InputError("prepare: --threads must be at least 1");
  if (!(options.val_fraction >= 0 && options.val_fraction < 1)) {
    throw InputError("prepare: --val-fraction must be from 0 to below 1, not " + decimal(options.val_fraction));
  }
  if (options.val_fraction > 0 && options.val_output.empty()) {
    throw InputError("prepare: --val-fraction " + decimal(options.val_fraction) +
                     " needs --val-output, the file for the validation stories");
  }
  if (options.val_fraction == 0 && !options.val_output.empty()) {
    throw InputError("prepare: --val-output " + options.val_output.string() +
                     " needs a --val-fraction above 0 (with 0 no story goes to it)");
  }
  if (options.batch_bytes < PrepareOptions::min_batch_bytes || options.batch_bytes > PrepareOptions::max_batch_bytes) {
    throw InputError("prepare: --batch-mb must be from " + decimal(PrepareOptions::min_batch_bytes / 1e6) + " to " +
                     decimal(PrepareOptions::max_batch_bytes / 1e6) + ", not " + decimal(options.batch_bytes / 1e6));
  }
  if (tokenizer.vocabulary().size() > 65536) {
    throw InputError("prepare: token files hold uint16, and this vocabulary has " +
                     std::to_string(tokenizer.vocabulary().size()) + " tokens");
  }
  for (const auto& input : options.inputs) story_format(input);  // a name it cannot read: before anything is written
  // Where the files will be (a symbolic link is followed); anything but a regular file is refused.
  const std::filesystem::path output = TokenFileWriter::output_target(options.output);
  const std::filesystem::path val_output =
      options.val_output.empty() ? std::filesystem::path() : TokenFileWriter::output_target(options.val_output);
  if (!val_output.empty() &&
      std::filesystem::weakly_canonical(val_output) == std::filesystem::weakly_canonical(output)) {
    throw InputError("prepare: --val-output is the same file as --output");
  }
  for (const auto& [name, path] : {std::pair{options.output, output}, std::pair{options.val_output, val_output}}) {
    if (path.empty()) continue;
    for (const auto& input : options.inputs) {
      std::error_code ec;
      if (std::filesystem::equivalent(input, path, ec)) {
        throw InputError("prepare: the output " + name.string() + " is the input " + input.string());
      }
    }
  }
}

// Refuses token files without a story: empty inputs, or a split that leaves one file empty.
void check_story_counts(const PrepareOptions& options, const PrepareSummary& summary) {
  const std::uint64_t stories = summary.stories + summary.val_stories;
  if (stories == 0) {
    throw DataError(options.inputs.size() == 1
                        ? "prepare: the input " + options.inputs[0].string() + " holds no story: nothing to write"
                        : "prepare: none of the " + std::to_string(options.inputs.size()) +
                              " inputs holds a story: nothing to write");
  }
  if (options.val_output.empty()) return;
  const std::string split = "prepare: --val-fraction " + decimal(options.val_fraction) + " of the " +
                            std::to_string(stories) + " stories puts ";
  if (summary.val_stories == 0) {
    throw InputError(split + "none in --val-output " + options.val_output.string() + " (one story in " +
                     decimal(1 / options.val_fraction) + " goes there)");
  }
  if (summary.stories == 0) {
    throw InputError(split + "all in --val-output, none in --output " + options.output.string());
  }
}

}  // namespace

PrepareSummary prepare(const PrepareOptions& options, const Tokenizer& tokenizer) {
  check_options(options, tokenizer);
  const auto start = std::chrono::steady_clock::now();
  PrepareProgress progress;
  for (const auto& input : options.inputs) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(input, ec);
    if (!ec) progress.bytes_total += size;
  }

  TokenFileWriter train(options.output, options.format);
  std::optional<TokenFileWriter> val;
  if (!options.val_output.empty()) val.emplace(options.val_output, options.format);

  const std::size_t threads = static_cast<std::size_t>(options.threads);
  Pipeline pipeline(2 * threads + 2);
  std::thread reader([&] {
    try {
      read_stories(options.inputs, options.batch_bytes, [&](StoryBatch&& batch) {
        if (options.stop_requested && options.stop_requested()) {
          throw PrepareInterrupted("prepare: stopped by a signal; nothing was written");
        }
        return pipeline.push(std::move(batch));
      });
    } catch (...) {
      pipeline.fail(std::current_exception());
    }
    pipeline.close();
  });
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      try {
        Tokenizer own = tokenizer;  // its own piece cache
        while (auto item = pipeline.take()) pipeline.done(item->first, encode_batch(item->second, own, options));
      } catch (...) {
        pipeline.fail(std::current_exception());
      }
    });
  }

  PrepareSummary summary;
  try {
    while (auto batch = pipeline.next_in_order()) {
      train.append(batch->train);
      if (val) val->append(batch->val);
      summary.stories += batch->stories;
      summary.val_stories += batch->val_stories;
      progress.bytes_done += batch->input_bytes;
      progress.stories = summary.stories + summary.val_stories;
      progress.tokens += batch->train.size() + batch->val.size();
      progress.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (options.on_progress) options.on_progress(progress);
    }
  } catch (...) {
    pipeline.fail(std::current_exception());
  }
  reader.join();
  for (auto& worker : workers) worker.join();
  if (const auto error = pipeline.error()) std::rethrow_exception(error);
  if (options.stop_requested && options.stop_requested()) {
    throw PrepareInterrupted("prepare: stopped by a signal; nothing was written");
  }

  check_story_counts(options, summary);
  train.commit();
  if (val) val->commit();
  summary.tokens = train.tokens_written();
  summary.val_tokens = val ? val->tokens_written() : 0;
  summary.bytes = progress.bytes_done;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace gpt
