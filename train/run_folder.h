#pragma once
// Whose run.dir it is. A run that starts at step 0 (not resuming) in a folder that holds an
// earlier run's results would mix the two: keep_last prunes the new run's checkpoints because the
// old ones rank newer, metrics.jsonl is cut to the new run's lines, tb/ gets a second run. So such
// a start is refused, naming what is there and how to go on, unless the user asks to overwrite.
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "train/run_config.h"

namespace gpt {

// What `run_dir` holds of an earlier run, as a user would name it: "checkpoints/step_00000006.h5
// (and 2 older)", "metrics.jsonl (40 records)", "tb/ (1 event file)", "samples.txt". Empty when
// it holds none of these (a lock, a config.toml or a user's own files are nobody's run).
std::vector<std::string> earlier_run_outputs(const std::filesystem::path& run_dir);

struct FreshStart {
  bool overwrite = false;    // train --overwrite: remove the earlier run's outputs
  bool auto_resume = false;  // checkpoint.resume = "auto" (and no --overwrite)
};

// Rank 0, before a run of `config` starts at step 0 in config.run.dir: ConfigError naming what the
// folder holds and the ways on (--resume, another run.dir, --overwrite) when it holds an earlier
// run's outputs; with `overwrite`, removes them (checkpoints, metrics.jsonl, tb/, samples.txt) and
// says so on `notes`. One case passes: with auto_resume, no checkpoint, and the folder's
// config.toml one this run could resume from (only keys that may change on resume differ): the
// same run started again (a requeued job, a run whose checkpoints were lost) before it had a
// checkpoint; its logs are of steps it will redo. std::runtime_error when they cannot be removed.
void claim_run_folder(const RunConfig& config, const FreshStart& start, std::ostream& notes);

}  // namespace gpt
