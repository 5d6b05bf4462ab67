#pragma once
// Error types thrown by the libraries. Mains map InputError to exit code 2 (the user's input is
// wrong) and every other exception to exit code 1 (internal failure).
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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

// A ConfigError about particular keys: keys() names them ("model.n_embd"), the one to blame first
// first, so that a caller that knows where each key was set (a file's line, the command line) can
// say so. Shared, so that copying the exception cannot throw.
class ConfigKeyError : public ConfigError {
 public:
  ConfigKeyError(std::vector<std::string> keys, const std::string& message)
      : ConfigError(message), keys_(std::make_shared<const std::vector<std::string>>(std::move(keys))) {}
  const std::vector<std::string>& keys() const { return *keys_; }

 private:
  std::shared_ptr<const std::vector<std::string>> keys_;
};

// A bad or unreadable data file: names the file and, where known, the offset.
class DataError : public InputError {
 public:
  using InputError::InputError;
};

}  // namespace gpt
