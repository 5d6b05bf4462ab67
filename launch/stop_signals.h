#pragma once
// Signals that ask a program to stop at its next safe point (SIGTERM is how Slurm preempts).
// They are blocked in every thread (threads started later inherit the mask) and taken by one
// thread in sigwait(), so no worker is ever interrupted: an asynchronous handler corrupted the
// heap under load. A second signal ends the process at once (exit status 128 + the signal).
// Construct one first in main, before any thread starts, and keep it for the process's life.
#include <signal.h>

#include <atomic>
#include <initializer_list>

namespace gpt {

class StopSignals {
 public:
  explicit StopSignals(std::initializer_list<int> signals);
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  bool requested() const { return requested_.load(); }

 private:
  sigset_t set_;
  std::atomic<bool> requested_{false};
};

}  // namespace gpt
