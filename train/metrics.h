#pragma once
// What a run reports: one console line per log interval and the same as one JSON object per line
// in <run.dir>/metrics.jsonl (keys: step, loss, val_loss, lr, grad_norm, ms, tokens_per_s, and comm_ms on several
// ranks).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>

namespace gpt {

struct StepRecord {
  std::int64_t step = 0;
  std::optional<double> loss, val_loss, lr, grad_norm, ms, tokens_per_s, comm_ms;
};

class MetricsLog {
 public:
  // Creates jsonl_path; a resumed run instead keeps its records up to resumed_step (replacing the
  // file atomically, so a full disk cannot lose them) and appends. std::runtime_error when the
  // file cannot be written.
  MetricsLog(std::ostream& console, const std::filesystem::path& jsonl_path, std::int64_t max_steps,
             std::optional<std::int64_t> resumed_step = std::nullopt);
  // A record that cannot be written (a full disk) is reported on the console once, and the run
  // goes on: the checkpoints decide whether it can continue, and the console still has the line.
  void write(const StepRecord& record);

 private:
  std::ostream* console_;
  std::filesystem::path path_;
  std::ofstream jsonl_;
  std::int64_t max_steps_;
  bool write_failed_ = false;
};

}  // namespace gpt
