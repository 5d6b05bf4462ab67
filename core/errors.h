#pragma once
// Error types thrown by the libraries. Mains map InputError to exit code 2 (the user's input is
// wrong) and every other exception to exit code 1 (internal failure).
#include <stdexcept>
#include <string>

namespace gpt {

// Something the user supplied is wrong: a config key, a path, a token file, a command line.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A bad configuration: names the key and, where known, where it was set.
class ConfigError : public InputError {
 public:
  using InputError::InputError;
};

// A bad or unreadable data file: names the file and, where known, the offset.
class DataError : public InputError {
 public:
  using InputError::InputError;
};

}  // namespace gpt
