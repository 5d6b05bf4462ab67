#pragma once
// How every main (train, prepare, generate, export) ends on an error: one "error: ..." line on
// stderr, exit code 2 for bad input and 1 for an internal failure. Which exceptions are bad input
// is decided here alone (core/errors.h names them); train's ranks agree on these codes
// (launch/train_main.cpp).
#include <exception>
#include <functional>
#include <string>

namespace CLI {
class App;
class ParseError;
}  // namespace CLI

namespace gpt {

inline constexpr int kExitBadInput = 2;
inline constexpr int kExitInternal = 1;

// Why a main ends early: an exit code and the message for its error line. Code 0: no failure.
struct Failure {
  int code = 0;
  std::string message;
};

// What an exception is worth: kExitBadInput for gpt::InputError (config, data, checkpoint,
// command line) and std::filesystem::filesystem_error (it names the path), kExitInternal for any
// other exception; its what() is the message.
Failure failure_of(const std::exception& error);

// Runs `work`; the failure its exception is worth, or none.
Failure attempt(const std::function<void()>& work);

// The one line a main prints for a failure: "error: <message>\n".
std::string error_line(const std::string& message);

// Prints error_line(message) on stderr after what stdout holds so far, in one write: the lines of
// several ranks sharing a terminal do not interleave mid-line.
void print_error(const std::string& message);

// Prints the error line for `message`; returns `code`.
int fail(int code, const std::string& message);

// `body`'s exit code, or that of the exception it throws, printed with fail(). `before_error` runs
// first on an exception (prepare ends its progress display there).
int exit_code_of(const std::function<int()>& body, const std::function<void()>& before_error = {});

// A command line CLI11 refused: code 0 for a request CLI11 answers itself instead (--help), else
// kExitBadInput with CLI11's message, given as "TOOL: <message> (see TOOL --help)" when `tool` is
// named.
Failure command_line_failure(const CLI::ParseError& error, const std::string& tool = "");

// Ends a main whose command line CLI11 refused: prints --help's text and returns 0, or prints
// command_line_failure's error line and returns its code.
int command_line_exit(const CLI::App& app, const CLI::ParseError& error, const std::string& tool = "");

}  // namespace gpt
