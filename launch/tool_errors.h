#pragma once
// How the one-process tools (prepare, generate, export) end on an error: one "error: ..." line on
// stderr, exit 2 for bad input (gpt::InputError, or a filesystem error, which names the path) and
// 1 for anything else (an internal failure).
#include <functional>
#include <string>

namespace gpt {

// Prints "error: <message>" after what stdout holds so far; returns `code`.
int fail(int code, const std::string& message);

// `body`'s exit code, or that of the exception it throws, printed with fail(). `before_error` runs
// first on an exception (prepare ends its progress display there).
int exit_code_of(const std::function<int()>& body, const std::function<void()>& before_error = {});

}  // namespace gpt
