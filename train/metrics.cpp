#include "train/metrics.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

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
                       std::optional<std::int64_t> resumed_step)
    : console_(&console), path_(jsonl_path), max_steps_(max_steps) {
  if (resumed_step) {
    const std::filesystem::path tmp = jsonl_path.string() + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << records_up_to(jsonl_path, *resumed_step);
      out.close();
      if (!out) {
        std::error_code ec;
        std::filesystem::remove(tmp, ec);
        throw std::runtime_error("cannot write " + tmp.string() + " (" + jsonl_path.filename().string() +
                                 " is left as it was)");
      }
    }
    if (std::rename(tmp.c_str(), jsonl_path.c_str()) != 0)
      throw std::runtime_error("cannot replace " + jsonl_path.string() + ": " + std::strerror(errno));
    jsonl_.open(jsonl_path, std::ios::app);
  } else {
    jsonl_.open(jsonl_path, std::ios::trunc);
  }
  if (!jsonl_) throw std::runtime_error("cannot write " + jsonl_path.string());
}

void MetricsLog::write(const StepRecord& r) {
  nlohmann::json j;
  j["step"] = r.step;
  auto put = [&](const char* key, const std::optional<double>& v) {
    if (v) j[key] = *v;
  };
  put("loss", r.loss);
  put("val_loss", r.val_loss);
  put("lr", r.lr);
  put("grad_norm", r.grad_norm);
  put("ms", r.ms);
  put("tokens_per_s", r.tokens_per_s);
  put("comm_ms", r.comm_ms);
  jsonl_ << j.dump() << '\n';
  jsonl_.flush();
  if (!jsonl_ && !write_failed_) {
    write_failed_ = true;
    *console_ << "warning: cannot write " << path_.string() << " (" << std::strerror(errno)
              << "): step records from here on are on the console only" << std::endl;
  }

  char line[256];
  const int width = static_cast<int>(std::to_string(max_steps_).size());
  int n = std::snprintf(line, sizeof line, "step %*lld/%lld", width, static_cast<long long>(r.step),
                        static_cast<long long>(max_steps_));
  auto add = [&](const char* fmt, double v) {
    if (n < static_cast<int>(sizeof line))
      n += std::snprintf(line + n, sizeof line - static_cast<std::size_t>(n), fmt, v);
  };
  if (r.loss) add(" | loss %.4f", *r.loss);
  if (r.val_loss) add(" | val_loss %.4f", *r.val_loss);
  if (r.lr) add(" | lr %.3e", *r.lr);
  if (r.grad_norm) add(" | norm %.3f", *r.grad_norm);
  if (r.ms) add(" | %.1f ms", *r.ms);
  if (r.tokens_per_s) add(" | %.0f tok/s", *r.tokens_per_s);
  if (r.comm_ms) add(" | comm %.1f ms", *r.comm_ms);
  *console_ << line << std::endl;
}

}  // namespace gpt
