#pragma once
// One run per run.dir: two `train` processes in the same folder (a job started twice, a requeued
// Slurm job whose old allocation still runs) would interleave metrics.jsonl and prune or replace
// each other's checkpoints. Rank 0 holds an flock on <run.dir>/train.lock for as long as it
// runs; the kernel releases it when the process ends however it ends, so no stale lock survives a
// crash or SIGKILL.
#include <filesystem>
#include <string>

namespace gpt {

class RunDirLock {
 public:
  // Creates run_dir if needed and takes the lock. ConfigError when another process holds it (the
  // message names its pid, host and start time, from the file) or when run_dir cannot hold the
  // lock file. On a filesystem without locks the object is made but holds none: see held().
  explicit RunDirLock(const std::filesystem::path& run_dir);
  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

  bool held() const { return held_; }
  // Why the lock is not held (the filesystem's error), empty when it is.
  const std::string& problem() const { return problem_; }

 private:
  int fd_ = -1;
  bool held_ = false;
  std::string problem_;
};

}  // namespace gpt
