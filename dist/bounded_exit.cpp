#include "dist/bounded_exit.h"

#include <cstdlib>
#include <system_error>
#include <thread>

namespace gpt {

void bounded_exit(const std::function<void()>& cleanup, std::chrono::milliseconds limit, int exit_code) noexcept {
  try {
    // Detached: nothing will join it, the process ends on one path or the other.
    std::thread([limit, exit_code] {
      std::this_thread::sleep_for(limit);
      std::_Exit(exit_code);
    }).detach();
  } catch (const std::system_error&) {
    std::_Exit(exit_code);  // no timer (out of threads): an unbounded clean-up is worse than none
  }
  try {
    if (cleanup) cleanup();
  } catch (...) {
    // Leaving is all that is left to do.
  }
  std::_Exit(exit_code);
}

}  // namespace gpt
