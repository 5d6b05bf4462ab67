#include "launch/stop_signals.h"

#include <pthread.h>

#include <cstdlib>
#include <thread>

namespace gpt {

StopSignals::StopSignals(std::initializer_list<int> signals) {
  sigemptyset(&set_);
  for (int sig : signals) sigaddset(&set_, sig);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  std::thread([this] {
    int sig = 0;
    while (sigwait(&set_, &sig) == 0) {
      if (requested_.exchange(true)) std::_Exit(128 + sig);
    }
  }).detach();
}

}  // namespace gpt
