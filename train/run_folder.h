#pragma once
// Whose run.dir it is. A run that starts at step 0 (not resuming) in a folder that holds an
// earlier run's results would mix the two: keep_last prunes the new run's checkpoints because the
// old ones rank newer, metrics.jsonl is cut to the new run's lines, tb/ gets a second run. So such
// a start is refused, naming what is there and how to go on, unless the user asks to overwrite.
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace gpt {

// What `run_dir` holds of an earlier run, as a user would name it: "checkpoints/step_00000006.h5
// (and 2 older)", "metrics.jsonl (40 records)", "tb/ (1 event file)", "samples.txt". Empty when
// it holds none of these (a lock, a config.toml or a user's own files are nobody's run).
std::vector<std::string> earlier_run_outputs(const std::filesystem::path& run_dir);

struct FreshStart {
  bool overwrite = false;  // train --overwrite: remove the earlier run's outputs
  // checkpoint.resume = "auto" and the folder's config.toml is this run's: the same run started
  // again (a requeued job) before its first checkpoint; its logs are for steps it will redo.
  bool same_run_restarting = false;
};

// Rank 0, before a run starts at step 0: ConfigError naming what the folder holds and the ways on
// (--resume, another run.dir, --overwrite) when it holds an earlier run's outputs; with
// `overwrite`, removes them (checkpoints, metrics.jsonl, tb/, samples.txt) and says so on `notes`.
// A restarting run without checkpoints passes. std::runtime_error when they cannot be removed.
void claim_run_folder(const std::filesystem::path& run_dir, const FreshStart& start, std::ostream& notes);

}  // namespace gpt
