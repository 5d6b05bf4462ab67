#include "train/run_folder.h"

#include <fstream>
#include <iterator>
#include <system_error>

#include "core/errors.h"
#include "train/checkpoint/checkpoint_folder.h"

namespace gpt {
namespace fs = std::filesystem;

namespace {

std::size_t count_lines(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::size_t lines = 0;
  for (std::string line; std::getline(in, line);) lines += !line.empty();
  return lines;
}

std::size_t count_files(const fs::path& folder) {
  std::error_code ec;
  std::size_t files = 0;
  for (fs::recursive_directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
    files += it->is_regular_file(ec);
  return files;
}

std::string plural(std::size_t n, const std::string& what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

// The last run started in run_dir (its config.toml) is one `config` could resume: the same run.
bool same_run(const fs::path& run_dir, const RunConfig& config) {
  const fs::path file = run_dir / "config.toml";
  std::ifstream in(file, std::ios::binary);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (!in && !in.eof()) return false;
  try {
    const RunConfig earlier = parse_run_config(text, file.string(), ".", {});
    for (const std::string& key : changed_keys(earlier, config))
      if (!may_change_on_resume(key)) return false;
    return true;
  } catch (const std::exception&) {
    return false;  // unreadable: nobody's config we can vouch for
  }
}

bool non_empty_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && fs::file_size(p, ec) > 0 && !ec;
}

}  // namespace

std::vector<std::string> earlier_run_outputs(const fs::path& run_dir) {
  std::vector<std::string> found;
  const std::vector<fs::path> checkpoints = list_checkpoints(run_dir);
  if (!checkpoints.empty())
    found.push_back("checkpoints/" + checkpoints.front().filename().string() +
                    (checkpoints.size() > 1 ? " (and " + std::to_string(checkpoints.size() - 1) + " older)" : ""));
  if (non_empty_file(run_dir / "metrics.jsonl"))
    found.push_back("metrics.jsonl (" + plural(count_lines(run_dir / "metrics.jsonl"), "record") + ")");
  if (const std::size_t events = count_files(run_dir / "tb"); events > 0)
    found.push_back("tb/ (" + plural(events, "event file") + ")");
  if (non_empty_file(run_dir / "samples.txt")) found.push_back("samples.txt");
  return found;
}

void claim_run_folder(const RunConfig& config, const FreshStart& start, std::ostream& notes) {
  const fs::path& run_dir = config.run.dir;
  const std::vector<std::string> found = earlier_run_outputs(run_dir);
  if (found.empty()) return;
  if (start.auto_resume && list_checkpoints(run_dir).empty() && same_run(run_dir, config)) return;
  std::string listing;
  for (std::size_t i = 0; i < found.size(); ++i) listing += (i ? ", " : "") + found[i];
  if (!start.overwrite)
    throw ConfigError("run.dir " + run_dir.string() + " holds an earlier run (" + listing +
                      "), and this run would start at step 0 over it: continue that run with --resume (or "
                      "checkpoint.resume = \"auto\"), give this one another run.dir, or pass --overwrite to "
                      "delete the earlier run's checkpoints and logs");
  std::error_code ec;
  for (const fs::path& p : list_checkpoints(run_dir)) {
    fs::remove(p, ec);
    if (ec) throw std::runtime_error("--overwrite: cannot remove " + p.string() + ": " + ec.message());
  }
  for (const char* name : {"metrics.jsonl", "samples.txt", "tb"}) {
    fs::remove_all(run_dir / name, ec);
    if (ec) throw std::runtime_error("--overwrite: cannot remove " + (run_dir / name).string() + ": " + ec.message());
  }
  notes << "overwrite: removed the earlier run in " << run_dir.string() << " (" << listing << ")\n";
}

}  // namespace gpt
