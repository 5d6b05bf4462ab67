#pragma once
// Ending the process after a last clean-up that may itself hang: a watchdog that exists to turn a
// stall into an exit must not stall in its own clean-up (an NCCL abort waiting on the very work
// that is stuck, say).
#include <chrono>
#include <functional>

namespace gpt {

// Runs `cleanup`, then ends the process with `exit_code` (std::_Exit: no destructors, no atexit
// handlers, no stdio flush, so flush what must be seen first). If `cleanup` has not returned
// within `limit`, a timer thread armed before it ends the process with the same code anyway. An
// exception from `cleanup` is swallowed; if the timer cannot be started, `cleanup` is skipped,
// since nothing would bound it.
[[noreturn]] void bounded_exit(const std::function<void()>& cleanup, std::chrono::milliseconds limit,
                               int exit_code) noexcept;

}  // namespace gpt
