#pragma once
// What a run reports, written by rank 0 to three places:
//   - the console: one line per log interval (on a terminal also a status line redrawn in place
//     after every step; in a file or pipe nothing but plain lines);
//   - <run.dir>/metrics.jsonl: the same as one JSON object per line (keys: step, loss, val_loss,
//     lr, grad_norm, ms, tokens_per_s, mfu, tokens, and comm_ms on several ranks);
//   - <run.dir>/tb/: TensorBoard event files (log.tensorboard) with the scalars loss, val_loss, lr,
//     grad_norm, tokens_per_s and mfu, and the resolved config as text.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <string>

#include "core/status_line.h"
#include "train/observe/tensorboard.h"

namespace gpt {

struct StepRecord {
  std::int64_t step = 0;
  std::optional<double> loss, val_loss, lr, grad_norm, ms, tokens_per_s, comm_ms;
  std::optional<double> mfu;           // a fraction; absent when the device's peak is unknown
  std::optional<std::int64_t> tokens;  // tokens trained on through this step
  std::optional<double> eta_s;         // seconds the run still needs (console only)
};

struct MetricsOutputs {
  std::filesystem::path tensorboard_dir;  // empty: no TensorBoard files
  bool terminal = false;                  // the console is a terminal: redraw a status line
};

class MetricsLog {
 public:
  // Creates jsonl_path; a resumed run instead keeps its records up to resumed_step (replacing the
  // file atomically, so a full disk cannot lose them) and appends. TensorBoard is told to drop
  // the later steps instead (TensorBoardWriter). std::runtime_error when a file cannot be written.
  MetricsLog(std::ostream& console, const std::filesystem::path& jsonl_path, std::int64_t max_steps,
             std::optional<std::int64_t> resumed_step = std::nullopt, const MetricsOutputs& outputs = {});
  // A record that cannot be written (a full disk) is reported on the console once, and the run
  // goes on: the checkpoints decide whether it can continue, and the console still has the line.
  void write(const StepRecord& record);
  // Text for the TensorBoard text plugin (Markdown), shown at `step`.
  void text(std::int64_t step, const std::string& tag, const std::string& markdown);
  // The status line after a step that is not logged: on a terminal redrawn in place at most ten
  // times a second, elsewhere nothing.
  void progress(std::int64_t step, double ms, double tokens_per_s, std::optional<double> eta_s);
  // Any other console output (samples, checkpoints): clears the status line first.
  void say(const std::string& text);

  // The console line of a record: "step  50/150 | loss 5.9569 | ... | MFU 31.2% | ETA 1 min 05 s".
  std::string console_line(const StepRecord& record) const;

 private:
  std::ostream* console_;
  std::filesystem::path path_;
  std::ofstream jsonl_;
  std::optional<TensorBoardWriter> tensorboard_;
  std::int64_t max_steps_;
  bool terminal_;
  StatusLine status_;  // on a terminal only
  bool write_failed_ = false, tensorboard_failed_ = false;

  void warn_once(bool& flag, const std::string& what);
};

}  // namespace gpt
