// The folder of a run's checkpoints (see checkpoint_folder.h for the contract).
#include "train/checkpoint/checkpoint_folder.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/errors.h"

namespace gpt {
namespace fs = std::filesystem;

namespace {

constexpr const char* kCheckpointDir = "checkpoints";

// "step_00000040.h5" -> 40; -1 for any other name (temporary files included).
std::int64_t step_of(const std::string& name) {
  constexpr std::string_view prefix = "step_", suffix = ".h5";
  if (name.size() <= prefix.size() + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return -1;
  const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 18 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stoll(digits);
}

std::string verdict_key(const fs::path& p) {
  std::error_code ec;
  const fs::path abs = fs::absolute(p, ec);
  return (ec ? p : abs).lexically_normal().string();
}

}  // namespace

fs::path checkpoint_path(const fs::path& run_dir, std::int64_t step) {
  if (step < 0) throw std::invalid_argument("checkpoint_path: negative step " + std::to_string(step));
  char name[40];
  std::snprintf(name, sizeof name, "step_%08lld.h5", static_cast<long long>(step));
  return run_dir / kCheckpointDir / name;
}

std::vector<fs::path> list_checkpoints(const fs::path& run_dir) {
  std::vector<std::pair<std::int64_t, fs::path>> found;
  std::error_code ec;
  const fs::path dir = run_dir / kCheckpointDir;
  if (!fs::is_directory(dir, ec)) return {};
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    std::error_code entry_ec;
    if (is_temporary_name(name) || !entry.is_regular_file(entry_ec)) continue;
    if (const std::int64_t step = step_of(name); step >= 0) found.emplace_back(step, entry.path());
  }
  if (ec) throw std::runtime_error("cannot list " + dir.string() + ": " + ec.message());
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<fs::path> out;
  out.reserve(found.size());
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

void check_checkpoint_folder(const fs::path& run_dir) {
  const fs::path dir = run_dir / kCheckpointDir;
  // The user's path is unusable (bad input, exit 2) for these; anything else is the environment.
  const auto fail = [&](const std::string& what, int err) -> void {
    const std::string message = "run.dir: checkpoints cannot be written to " + dir.string() + ": " + what;
    if (err == ENOTDIR || err == EEXIST || err == EACCES || err == EPERM || err == EROFS || err == ENAMETOOLONG ||
        err == ELOOP || err == EISDIR)
      throw ConfigError(message);
    throw std::runtime_error(message);
  };
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) fail("it exists and is not a folder", ENOTDIR);
  fs::create_directories(dir, ec);
  if (ec) fail(ec.message(), ec.value());
  const fs::path probe = dir / (".write_test.tmp." + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    const int err = errno;
    fail(std::string("cannot create a file there: ") + std::strerror(err), err);
  }
  ::close(fd);
  if (::unlink(probe.c_str()) != 0) {
    const int err = errno;
    fail("cannot delete the test file " + probe.filename().string() + ": " + std::strerror(err), err);
  }
}

CheckpointFolder::CheckpointFolder(fs::path run_dir) : run_dir_(std::move(run_dir)) {}

void CheckpointFolder::remember_verdict(const fs::path& p, bool valid, const std::string& problem, bool reported) {
  std::error_code ec;
  Verdict v{fs::file_size(p, ec), {}, valid, reported, problem};
  if (ec) return;
  v.modified = fs::last_write_time(p, ec);
  if (ec) return;
  const std::lock_guard lock(mutex_);
  verdicts_[verdict_key(p)] = std::move(v);
}

std::optional<CheckpointFolder::Verdict> CheckpointFolder::known_verdict(const fs::path& p) const {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(p, ec);
  if (ec) return std::nullopt;
  const fs::file_time_type modified = fs::last_write_time(p, ec);
  if (ec) return std::nullopt;
  const std::lock_guard lock(mutex_);
  const auto it = verdicts_.find(verdict_key(p));
  if (it == verdicts_.end() || it->second.size != size || it->second.modified != modified) return std::nullopt;
  return it->second;
}

void CheckpointFolder::write(std::int64_t step, const std::map<std::string, Attrs>& attrs,
                             const std::vector<TensorRef>& tensors) {
  const fs::path path = checkpoint_path(run_dir_, step);
  const std::string temporary = temporary_path(path).filename().string();
  {
    const std::lock_guard lock(mutex_);
    in_flight_.insert(temporary);
  }
  struct Unregister {
    CheckpointFolder& folder;
    const std::string& name;
    ~Unregister() {
      const std::lock_guard lock(folder.mutex_);
      folder.in_flight_.erase(name);
    }
  } unregister{*this, temporary};
  write_checkpoint_file(path, attrs, tensors);
  remember_verdict(path, true, "", false);
}

std::optional<CheckpointFile> CheckpointFolder::open_newest_valid(std::ostream& warnings) {
  const std::vector<fs::path> all = list_checkpoints(run_dir_);
  if (!all.empty() && !checkpoints_supported())
    throw_no_hdf5("read the checkpoints in " + (run_dir_ / kCheckpointDir).string());
  for (const fs::path& p : all) {
    try {
      CheckpointFile file(p);
      remember_verdict(p, true, "", false);
      return file;
    } catch (const CheckpointError& e) {
      warnings << "warning: skipping " << e.what() << "\n";
      remember_verdict(p, false, e.what(), true);
    }
  }
  return std::nullopt;
}

// Why `p` cannot be used, or nullopt when it verifies; "" when its problem was already reported.
// Without HDF5 nothing can be verified, and nothing was written by this build: every file counts.
std::optional<std::string> CheckpointFolder::problem_of(const fs::path& p) {
  if (!checkpoints_supported()) return std::nullopt;
  if (const std::optional<Verdict> known = known_verdict(p)) {
    if (known->valid) return std::nullopt;
    return known->reported ? "" : known->problem;
  }
  try {
    const CheckpointFile file(p);
    remember_verdict(p, true, "", false);
    return std::nullopt;
  } catch (const CheckpointError& e) {
    return std::string(e.what());
  }
}

void CheckpointFolder::prune(std::int64_t keep_last, std::ostream& notes) {
  const fs::path dir = run_dir_ / kCheckpointDir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  if (keep_last > 0) {
    // Newest first: a file that fails verification is set aside, not counted, so a bad newest
    // file can never push a valid one out. Files past the keep_last-th valid one go unread.
    std::int64_t valid = 0;
    for (const fs::path& p : list_checkpoints(run_dir_)) {
      if (valid >= keep_last) {
        if (!fs::remove(p, ec) && ec)
          throw std::runtime_error("cannot delete old checkpoint " + p.string() + ": " + ec.message());
        continue;
      }
      const std::optional<std::string> problem = problem_of(p);
      if (!problem) {
        ++valid;
        continue;
      }
      const fs::path aside = p.string() + ".corrupt";
      fs::rename(p, aside, ec);
      if (ec) throw std::runtime_error("cannot rename invalid checkpoint " + p.string() + ": " + ec.message());
      notes << "warning: " << (problem->empty() ? "checkpoint " + p.string() + " (reported above)" : *problem)
            << " -> renamed to " << aside.filename().string()
            << " so that checkpoint.keep_last counts valid files only\n";
    }
  }
  // Temporary files left by a process that died while writing (ours in flight are kept).
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (is_temporary_name(entry.path().filename().string())) stale.push_back(entry.path());
  }
  const std::lock_guard lock(mutex_);
  for (const fs::path& p : stale) {
    if (in_flight_.count(p.filename().string())) continue;
    if (!fs::remove(p, ec) && ec)
      throw std::runtime_error("cannot delete temporary file " + p.string() + ": " + ec.message());
  }
}

CheckpointFile open_file_or_newest(const std::string& file, const std::filesystem::path& run_dir,
                                   std::ostream& warnings) {
  if (!file.empty()) return CheckpointFile(file);
  CheckpointFolder folder(run_dir);
  std::optional<CheckpointFile> newest = folder.open_newest_valid(warnings);
  if (!newest) throw ConfigError("no valid checkpoint in " + (run_dir / kCheckpointDir).string());
  return std::move(*newest);
}

}  // namespace gpt
