#include "train/observe/metrics.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/files/atomic_file.h"
#include "core/number_text.h"

namespace gpt {

namespace {

// The records of steps <= last_step: what a run resumed from that step had logged before.
std::string records_up_to(const std::filesystem::path& path, std::int64_t last_step) {
  std::ifstream in(path);
  std::string kept, line;
  while (std::getline(in, line)) {
    // Lines that are not our records (cut short by a crash, edited by hand) are dropped.
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("step") && j["step"].is_number_integer() &&
        j["step"].get<std::int64_t>() <= last_step)
      kept += line + '\n';
  }
  return kept;
}

}  // namespace

MetricsLog::MetricsLog(std::ostream& console, const std::filesystem::path& jsonl_path, std::int64_t max_steps,
                       std::optional<std::int64_t> resumed_step, const MetricsOutputs& outputs)
    : console_(&console),
      path_(jsonl_path),
      max_steps_(max_steps),
      terminal_(outputs.terminal),
      status_([out = &console](std::string_view text) { *out << text << std::flush; }) {
  if (resumed_step) {
    write_file_atomically(jsonl_path, records_up_to(jsonl_path, *resumed_step));
    jsonl_.open(jsonl_path, std::ios::app);
  } else {
    jsonl_.open(jsonl_path, std::ios::trunc);
  }
  if (!jsonl_) throw std::runtime_error("cannot write " + jsonl_path.string());
  if (!outputs.tensorboard_dir.empty()) tensorboard_.emplace(outputs.tensorboard_dir, resumed_step);
}

void MetricsLog::warn_once(bool& flag, const std::string& what) {
  if (flag) return;
  flag = true;
  say("warning: cannot write " + what + " (" + std::strerror(errno) + "): step records from here on are not in it");
}

void MetricsLog::write(const StepRecord& r) {
  nlohmann::json j;
  j["step"] = r.step;
  std::vector<std::pair<std::string, double>> scalars;
  auto put = [&](const char* key, const std::optional<double>& v, bool in_tensorboard = true) {
    if (!v) return;
    j[key] = *v;
    if (in_tensorboard) scalars.emplace_back(key, *v);
  };
  put("loss", r.loss);
  put("val_loss", r.val_loss);
  put("lr", r.lr);
  put("grad_norm", r.grad_norm);
  put("ms", r.ms, false);
  put("tokens_per_s", r.tokens_per_s);
  put("mfu", r.mfu);
  put("comm_ms", r.comm_ms, false);
  if (r.tokens) j["tokens"] = *r.tokens;
  jsonl_ << j.dump() << '\n';
  jsonl_.flush();
  if (!jsonl_) warn_once(write_failed_, path_.string());
  if (tensorboard_ && !scalars.empty() && !tensorboard_->scalars(r.step, scalars))
    warn_once(tensorboard_failed_, tensorboard_->file().string());
  say(console_line(r));
}

void MetricsLog::text(std::int64_t step, const std::string& tag, const std::string& markdown) {
  if (tensorboard_ && !tensorboard_->text(step, tag, markdown))
    warn_once(tensorboard_failed_, tensorboard_->file().string());
}

std::string MetricsLog::console_line(const StepRecord& r) const {
  char line[320];
  const int width = static_cast<int>(std::to_string(max_steps_).size());
  int n = std::snprintf(line, sizeof line, "step %*lld/%lld", width, static_cast<long long>(r.step),
                        static_cast<long long>(max_steps_));
  auto add = [&](const char* fmt, auto v) {
    if (n < static_cast<int>(sizeof line))
      n += std::snprintf(line + n, sizeof line - static_cast<std::size_t>(n), fmt, v);
  };
  if (r.loss) add(" | loss %.4f", *r.loss);
  if (r.val_loss) add(" | val_loss %.4f", *r.val_loss);
  if (r.lr) add(" | lr %.3e", *r.lr);
  if (r.grad_norm) add(" | norm %.3f", *r.grad_norm);
  if (r.ms) add(" | %.1f ms", *r.ms);
  if (r.tokens_per_s) add(" | %.0f tok/s", *r.tokens_per_s);
  if (r.mfu) add(" | MFU %.1f%%", 100 * *r.mfu);
  if (r.comm_ms) add(" | comm %.1f ms", *r.comm_ms);
  if (r.eta_s && r.step < max_steps_) add(" | ETA %s", duration_text(*r.eta_s).c_str());
  return line;
}

void MetricsLog::progress(std::int64_t step, double ms, double tokens_per_s, std::optional<double> eta_s) {
  if (!terminal_) return;
  StepRecord r{.step = step, .ms = ms, .tokens_per_s = tokens_per_s, .eta_s = eta_s};
  status_.update(console_line(r));
}

void MetricsLog::say(const std::string& text) {
  status_.clear();
  *console_ << text << std::endl;
}

}  // namespace gpt
