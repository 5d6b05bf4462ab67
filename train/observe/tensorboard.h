#pragma once
// TensorBoard event files written from C++, so `tensorboard --logdir runs/` shows every run
// without Python in the training job. The format: TFRecord framing (length, masked CRC-32C,
// payload, masked CRC-32C) around serialized tensorboard.Event protocol buffers, encoded here by
// hand for the few fields we write (scalars, a text summary, the file version, session start).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gpt {

class TensorBoardWriter {
 public:
  // Creates `dir` and a new event file in it, named to sort after any already there (TensorBoard
  // reads a folder's files in name order). A resumed run passes the step it resumed from: every
  // event file in `dir` is first cut after its last event at or before that step, so a killed run's
  // steps past its checkpoint do not appear twice, and a session-start event at resumed_step + 1
  // tells a TensorBoard that already read them to drop them. std::runtime_error when the folder
  // or file cannot be written.
  explicit TensorBoardWriter(const std::filesystem::path& dir, std::optional<std::int64_t> resumed_step = std::nullopt);

  // One event with these scalars (tag, value) at `step`. Returns false when it could not be
  // written (a full disk): the caller reports that once and carries on.
  bool scalars(std::int64_t step, const std::vector<std::pair<std::string, double>>& values);
  // A text summary (TensorBoard's text plugin renders it as Markdown).
  bool text(std::int64_t step, const std::string& tag, const std::string& markdown);

  const std::filesystem::path& file() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
  bool write_event(const std::string& event);
};

// The framing of one record, exposed for the tests.
std::string tfrecord(const std::string& payload);
// The step of every event in an event file, in file order, up to the first torn or corrupt
// record (what the resume cut relies on; exposed for the tests).
std::vector<std::int64_t> event_steps(const std::filesystem::path& file);

}  // namespace gpt
