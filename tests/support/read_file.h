#pragma once
// A whole file's bytes, for tests that compare files or build inputs from the sample data.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace gpt::test {

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace gpt::test
