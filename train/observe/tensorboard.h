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
  // reads a folder's files in name order). The file opens with a SessionLog START at the run's
  // first step: 0, or resumed_step + 1 for a resumed run. Older files are left as written: a
  // killed run's steps past its checkpoint stay in its file, and TensorBoard drops them when it
  // reads the START (its Python loaders purge what they hold from that step on; its Rust data
  // server, the default, lets a step logged again replace the earlier points from that step on).
  // tests/python/check_tensorboard.py shows every reader with each step once. std::runtime_error
  // when the folder or file cannot be written.
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

}  // namespace gpt
