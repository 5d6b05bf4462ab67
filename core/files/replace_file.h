#pragma once
// Replacing a file's contents so that a failure (a full disk) leaves the old contents: written to
// <path>.tmp, closed, then renamed over <path>. What a resumed run does to the logs it trims.
#include <filesystem>
#include <string>

namespace gpt {

// std::runtime_error naming the file when the temporary cannot be written (it is removed) or the
// rename fails.
void replace_file(const std::filesystem::path& path, const std::string& contents);

}  // namespace gpt
