#include "data/prepare/story_reader.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/errors.h"
#include "data/tokenizer/utf8.h"

namespace gpt {
namespace {

constexpr std::string_view kSeparator = "<|endoftext|>";

bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Batches stories as they are found; hands a batch on once it holds `batch_bytes`.
class Batcher {
 public:
  Batcher(std::size_t batch_bytes, const std::function<bool(StoryBatch&&)>& emit) : limit_(batch_bytes), emit_(emit) {}

  void start_input(std::size_t input) {
    batch_.input = input;
    consumed_at_last_emit_ = 0;
  }
  void add(std::string_view story, std::uint64_t source_offset) {
    batch_.stories.push_back({batch_.text.size(), story.size(), source_offset});
    batch_.text.append(story);
  }
  // A story (text[offset, offset + length)) that the caller is done with: a long one becomes
  // the batch's text itself when it starts a batch, so that it is not held twice.
  void add(std::string&& text, std::size_t offset, std::size_t length, std::uint64_t source_offset) {
    if (!batch_.stories.empty() || length < limit_) {
      add(std::string_view(text).substr(offset, length), source_offset);
      return;
    }
    batch_.text = std::move(text);
    batch_.stories.push_back({offset, length, source_offset});
  }
  // Takes the stories of TinyStories text buffer[0, complete), which starts at `source_offset` in
  // the file, out of `buffer`. When that is a batch or more and starts one (always so for a story
  // longer than a batch), the buffer itself becomes the batch's text: moved, not copied, so that
  // a long story is never held twice.
  void add_text(std::string& buffer, std::size_t complete, std::uint64_t source_offset) {
    if (!batch_.stories.empty() || complete < limit_) {
      for_each_story(std::string_view(buffer).substr(0, complete),
                     [&](std::string_view story, std::size_t offset) { add(story, source_offset + offset); });
      buffer.erase(0, complete);
      return;
    }
    std::string rest = buffer.substr(complete);
    buffer.resize(complete);
    batch_.text = std::move(buffer);
    for_each_story(batch_.text, [&](std::string_view story, std::size_t offset) {
      batch_.stories.push_back({offset, story.size(), source_offset + offset});
    });
    buffer = std::move(rest);
  }
  bool full() const { return batch_.text.size() >= limit_; }
  // Hands on what is batched, with the input consumed up to `consumed`; false: stop reading.
  bool flush_batch(std::uint64_t consumed) {
    batch_.input_bytes = consumed - consumed_at_last_emit_;
    consumed_at_last_emit_ = consumed;
    const std::size_t stories = batch_.stories.size();
    const std::size_t input = batch_.input;
    const bool go_on = emit_(std::move(batch_));
    batch_ = StoryBatch{};
    batch_.input = input;
    batch_.first_story = next_story_ += stories;
    batch_.text.reserve(limit_ + limit_ / 4);
    return go_on;
  }

 private:
  std::size_t limit_;
  const std::function<bool(StoryBatch&&)>& emit_;
  StoryBatch batch_;
  std::uint64_t next_story_ = 0, consumed_at_last_emit_ = 0;
};

// TinyStories text: read in blocks; the stories up to the last separator of what has been read
// are complete, the rest is carried into the next block.
bool read_text(const std::filesystem::path& path, Batcher& batcher, std::size_t block_bytes) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw DataError("cannot read the input " + path.string());
  std::string buffer;
  std::uint64_t buffer_start = 0;  // file offset of buffer[0]
  bool at_end = false;
  while (!at_end) {
    const std::size_t old_size = buffer.size();
    buffer.resize(old_size + block_bytes);
    file.read(buffer.data() + old_size, static_cast<std::streamsize>(block_bytes));
    buffer.resize(old_size + static_cast<std::size_t>(file.gcount()));
    if (file.bad()) throw DataError("cannot read the input " + path.string() + ": read error");
    at_end = file.eof();
    std::size_t complete = buffer.size();
    if (!at_end) {
      // What was carried has no separator: search only where one can end in the new bytes, or a
      // long story would be scanned again for every block (quadratic).
      const std::size_t from = old_size >= kSeparator.size() ? old_size - (kSeparator.size() - 1) : 0;
      const std::size_t last = std::string_view(buffer).substr(from).rfind(kSeparator);
      if (last == std::string_view::npos) continue;  // one story longer than a block: read more
      complete = from + last + kSeparator.size();
    }
    batcher.add_text(buffer, complete, buffer_start);
    buffer_start += complete;
    if ((batcher.full() || at_end) && !batcher.flush_batch(buffer_start)) return false;
  }
  return true;
}

// A JSON shard, parsed as a stream (SAX): only the "story" strings of the top-level array's
// objects are kept.
class ShardReader : public nlohmann::json::json_sax_t {
 public:
  ShardReader(const std::filesystem::path& path, Batcher& batcher, std::ifstream& file)
      : path_(path), batcher_(batcher), file_(file) {}
  bool stopped() const { return stopped_; }

  bool null() override { return value("null"); }
  bool boolean(bool) override { return value("a boolean"); }
  bool number_integer(number_integer_t) override { return value("a number"); }
  bool number_unsigned(number_unsigned_t) override { return value("a number"); }
  bool number_float(number_float_t, const string_t&) override { return value("a number"); }
  bool binary(binary_t&) override { return value("binary"); }
  bool string(string_t& s) override {
    if (depth_ == 2 && key_ == "story") {
      story_seen_ = true;
      const std::string_view story = strip_story(s);
      // Moved: the parser makes a new string for the next value.
      if (!story.empty()) {
        const auto offset = static_cast<std::size_t>(story.data() - s.data());
        batcher_.add(std::move(s), offset, story.size(), position());
      }
      return true;
    }
    return value("a string");
  }
  bool start_object(std::size_t) override {
    if (depth_ == 0) fail("is not a JSON array of stories (it starts with an object)");
    if (depth_ == 2 && key_ == "story") fail("element " + std::to_string(element_) + "'s \"story\" is an object");
    if (depth_ == 1) story_seen_ = false;
    ++depth_;
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 2) key_ = k;
    return true;
  }
  bool end_object() override {
    if (--depth_ == 1) {
      if (!story_seen_) fail("element " + std::to_string(element_) + " has no \"story\" string");
      ++element_;
      if (batcher_.full() && !batcher_.flush_batch(position())) {
        stopped_ = true;
        return false;
      }
    }
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 1) fail("element " + std::to_string(element_) + " is an array, not an object with a \"story\"");
    if (depth_ == 2 && key_ == "story") fail("element " + std::to_string(element_) + "'s \"story\" is an array");
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    fail(std::string("is not valid JSON: ") + e.what());
  }

 private:
  bool value(const char* what) {
    if (depth_ == 0) fail(std::string("is not a JSON array of stories (it is ") + what + ")");
    if (depth_ == 1) fail("element " + std::to_string(element_) + " is " + what + ", not an object with a \"story\"");
    if (depth_ == 2 && key_ == "story") fail("element " + std::to_string(element_) + "'s \"story\" is " + what);
    return true;
  }
  std::uint64_t position() {
    const auto at = file_.tellg();
    return at < 0 ? 0 : static_cast<std::uint64_t>(at);
  }
  [[noreturn]] void fail(const std::string& what) { throw DataError("the input " + path_.string() + " " + what); }

  const std::filesystem::path& path_;
  Batcher& batcher_;
  std::ifstream& file_;
  int depth_ = 0;
  std::string key_;
  bool story_seen_ = false, stopped_ = false;
  std::uint64_t element_ = 0;
};

bool read_shard(const std::filesystem::path& path, Batcher& batcher) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw DataError("cannot read the input " + path.string());
  ShardReader reader(path, batcher, file);
  nlohmann::json::sax_parse(file, &reader);
  if (reader.stopped()) return false;
  const std::uint64_t size = std::filesystem::file_size(path);
  return batcher.flush_batch(size);
}

// "a number", "an array": what a JSON value is, for an error message.
std::string json_kind(const nlohmann::json& value) {
  const std::string name = value.type_name();
  return value.is_null() ? name : (name[0] == 'a' || name[0] == 'o' ? "an " : "a ") + name;
}

// JSON Lines: one object with a "story" string per line; blank lines are skipped.
bool read_json_lines(const std::filesystem::path& path, Batcher& batcher) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw DataError("cannot read the input " + path.string());
  const std::uint64_t size = std::filesystem::file_size(path);
  std::string line;
  std::uint64_t line_start = 0, line_number = 0;
  while (std::getline(file, line)) {
    const std::uint64_t start = line_start;
    line_start = std::min(size, line_start + line.size() + 1);
    ++line_number;
    auto fail = [&](const std::string& what) {
      throw DataError("the input " + path.string() + " line " + std::to_string(line_number) + " " + what);
    };
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json object;
    try {
      object = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      // nlohmann-json counts lines and columns within the line it was given: give the byte instead.
      const std::string message = e.what();
      const std::size_t reason = message.find(": ", message.find("column "));
      fail("is not valid JSON at byte " + std::to_string(e.byte) +
           " of the line: " + (reason == std::string::npos ? message : message.substr(reason + 2)));
    }
    if (!object.is_object()) fail("is " + json_kind(object) + ", not an object with a \"story\"");
    const auto story = object.find("story");
    if (story == object.end()) fail("has no \"story\" string");
    if (!story->is_string()) fail("has a \"story\" that is " + json_kind(*story));
    if (line.capacity() > (std::size_t{1} << 20)) std::string().swap(line);  // a long story: not held twice
    std::string& text = story->get_ref<std::string&>();
    const std::string_view stripped = strip_story(text);
    if (!stripped.empty()) {
      const auto offset = static_cast<std::size_t>(stripped.data() - text.data());
      batcher.add(std::move(text), offset, stripped.size(), start);
    }
    if (batcher.full() && !batcher.flush_batch(line_start)) return false;
  }
  if (file.bad()) throw DataError("cannot read the input " + path.string() + ": read error");
  return batcher.flush_batch(size);
}

}  // namespace

StoryFormat story_format(const std::filesystem::path& path) {
  const auto extension = path.extension();
  if (extension == ".txt") return StoryFormat::text;
  if (extension == ".json") return StoryFormat::json;
  if (extension == ".jsonl") return StoryFormat::json_lines;
  throw InputError("the input " + path.string() + " is not .txt, .json or .jsonl: prepare reads TinyStories text " +
                   "(.txt), Hugging Face JSON shards (.json) and JSON Lines (.jsonl), told by the extension");
}

std::string_view strip_story(std::string_view text) {
  std::size_t begin = 0, end = text.size();
  while (begin < end) {
    const auto lead = static_cast<unsigned char>(text[begin]);
    const std::size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    if (begin + length > end || utf8::first_invalid(text.substr(begin, length)) != std::string_view::npos) break;
    std::size_t pos = begin;
    if (!is_python_space(utf8::decode_at(text, pos))) break;
    begin = pos;
  }
  while (end > begin) {
    std::size_t start = end - 1;
    while (start > begin && end - start < 4 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    // Valid, and starting at the only byte that is not a continuation byte: one character.
    if (utf8::first_invalid(text.substr(start, end - start)) != std::string_view::npos) break;
    std::size_t pos = start;
    if (!is_python_space(utf8::decode_at(text, pos))) break;
    end = start;
  }
  return text.substr(begin, end - begin);
}

void for_each_story(std::string_view text, const std::function<void(std::string_view, std::size_t)>& story) {
  for (std::size_t start = 0;;) {
    const std::size_t found = text.find(kSeparator, start);
    const std::string_view raw =
        text.substr(start, found == std::string_view::npos ? std::string_view::npos : found - start);
    const std::string_view stripped = strip_story(raw);
    if (!stripped.empty()) story(stripped, start + static_cast<std::size_t>(stripped.data() - raw.data()));
    if (found == std::string_view::npos) return;
    start = found + kSeparator.size();
  }
}

void read_stories(const std::vector<std::filesystem::path>& inputs, std::size_t batch_bytes,
                  const std::function<bool(StoryBatch&&)>& emit) {
  Batcher batcher(batch_bytes, emit);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (std::error_code ec; !std::filesystem::is_regular_file(inputs[i], ec)) {
      throw DataError("the input " + inputs[i].string() +
                      (std::filesystem::exists(inputs[i]) ? " is not a regular file" : " does not exist"));
    }
    batcher.start_input(i);
    bool go_on = true;
    switch (story_format(inputs[i])) {
      case StoryFormat::text:
        go_on = read_text(inputs[i], batcher, batch_bytes);
        break;
      case StoryFormat::json:
        go_on = read_shard(inputs[i], batcher);
        break;
      case StoryFormat::json_lines:
        go_on = read_json_lines(inputs[i], batcher);
        break;
    }
    if (!go_on) return;
  }
}

}  // namespace gpt
