#include "launch/tool_errors.h"

#include <cstdio>
#include <exception>
#include <filesystem>

#include "core/errors.h"

namespace gpt {

int fail(int code, const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return code;
}

int exit_code_of(const std::function<int()>& body, const std::function<void()>& before_error) {
  int code = 0;
  std::string message;
  try {
    return body();
  } catch (const InputError& e) {
    code = 2, message = e.what();
  } catch (const std::filesystem::filesystem_error& e) {
    code = 2, message = e.what();
  } catch (const std::exception& e) {
    code = 1, message = e.what();
  }
  if (before_error) before_error();
  return fail(code, message);
}

}  // namespace gpt
