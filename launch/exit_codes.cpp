#include "launch/exit_codes.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "core/errors.h"

namespace gpt {

Failure failure_of(const std::exception& error) {
  const bool bad_input = dynamic_cast<const InputError*>(&error) != nullptr ||
                         dynamic_cast<const std::filesystem::filesystem_error*>(&error) != nullptr;
  return {bad_input ? kExitBadInput : kExitInternal, error.what()};
}

Failure attempt(const std::function<void()>& work) {
  try {
    work();
    return {};
  } catch (const std::exception& e) {
    return failure_of(e);
  }
}

std::string error_line(const std::string& message) {
  return "error: " + message + "\n";
}

void print_error(const std::string& message) {
  std::fflush(stdout);
  const std::string line = error_line(message);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

int fail(int code, const std::string& message) {
  print_error(message);
  return code;
}

int exit_code_of(const std::function<int()>& body, const std::function<void()>& before_error) {
  Failure failure;
  try {
    return body();
  } catch (const std::exception& e) {
    failure = failure_of(e);
  }
  if (before_error) before_error();
  return fail(failure.code, failure.message);
}

Failure command_line_failure(const CLI::ParseError& error, const std::string& tool) {
  if (error.get_exit_code() == 0) return {};
  if (tool.empty()) return {kExitBadInput, error.what()};
  return {kExitBadInput, tool + ": " + error.what() + " (see " + tool + " --help)"};
}

int command_line_exit(const CLI::App& app, const CLI::ParseError& error, const std::string& tool) {
  const Failure failure = command_line_failure(error, tool);
  if (failure.code == 0) return app.exit(error);
  return fail(failure.code, failure.message);
}

}  // namespace gpt
