// Where the tests find the sample data (tinystories/, gpt2/): $GPT_DATA_DIR when it is set, read
// when the test runs, else the repository's own copy in data/sample.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#ifndef GPT_DEFAULT_DATA_DIR
#error "GPT_DEFAULT_DATA_DIR must be defined (link gpt_test_data)"
#endif

namespace gpt::test {

inline std::filesystem::path data_dir() {
  const char* env = std::getenv("GPT_DATA_DIR");
  if (env != nullptr && *env != '\0') return env;
  return GPT_DEFAULT_DATA_DIR;
}

// A file of the TinyStories sample, e.g. tinystories_file("TinyStories-valid-sample.bin").
inline std::string tinystories_file(const std::string& name) {
  return (data_dir() / "tinystories" / name).string();
}

}  // namespace gpt::test
