#pragma once
// Stories from TinyStories' files, read in batches of about `batch_bytes` so that memory stays
// bounded however large the file (a batch holds a story longer than it whole): the .txt files
// (stories separated by `<|endoftext|>` lines), the Hugging Face JSON shards (data00.json ...:
// an array of objects, each with a "story" string) and JSON Lines (.jsonl: one such object per
// line). Each story is stripped of surrounding white space as Python's str.strip() does, and
// empty ones are dropped: the convention of the reference token files (data/sample/README.md).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace gpt {

enum class StoryFormat { text, json, json_lines };
// Told by the extension: .txt TinyStories text, .json a JSON shard, .jsonl JSON Lines (one object
// with a "story" string per line). Any other is an InputError naming the file and the three.
StoryFormat story_format(const std::filesystem::path& path);

// `text` without the white space Python's str.strip() removes at either end (Unicode's
// White_Space and U+001C..U+001F). Bytes that are not valid UTF-8 are never stripped.
std::string_view strip_story(std::string_view text);

// Cuts TinyStories text at every `<|endoftext|>` and calls `story` with each stripped, non-empty
// story and its offset in `text`.
void for_each_story(std::string_view text, const std::function<void(std::string_view, std::size_t)>& story);

struct StoryBatch {
  struct Story {
    std::size_t offset, length;   // in text
    std::uint64_t source_offset;  // in the input file (the start of its JSON string for a shard)
  };
  std::string text;  // the stories' bytes, one after another
  std::vector<Story> stories;
  std::size_t input = 0;          // index of the input file
  std::uint64_t input_bytes = 0;  // how much of the input this batch consumed
  std::uint64_t first_story = 0;  // index of its first story among all the inputs'
};

// Reads each input in turn and calls `emit` with its batches, in order; `emit` returns false to
// stop early. Throws DataError naming the file (and the offset or JSON element) when an input
// cannot be read or is not what its format says.
void read_stories(const std::vector<std::filesystem::path>& inputs, std::size_t batch_bytes,
                  const std::function<bool(StoryBatch&&)>& emit);

}  // namespace gpt
