// Every main's exit code and error line (launch/exit_codes.h): bad input gives 2, anything else 1,
// one "error: " line on stderr.
#include "launch/exit_codes.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "core/errors.h"
#include "train/checkpoint/checkpoint_file.h"

namespace gpt {
namespace {

TEST(ExitCodes, BadInputGivesTwo) {
  EXPECT_EQ(failure_of(InputError("a path")).code, 2);
  EXPECT_EQ(failure_of(ConfigError("model.n_embd")).code, 2);
  EXPECT_EQ(failure_of(ConfigKeyError({"optim.lr"}, "optim.lr is negative")).code, 2);
  EXPECT_EQ(failure_of(DataError("train.bin: token 70000")).code, 2);
  EXPECT_EQ(failure_of(CheckpointError("step_10.h5: checksum")).code, 2);
  const std::filesystem::filesystem_error missing("cannot open", "/no/such/file",
                                                  std::make_error_code(std::errc::no_such_file_or_directory));
  EXPECT_EQ(failure_of(missing).code, 2);
}

TEST(ExitCodes, AnythingElseGivesOne) {
  EXPECT_EQ(failure_of(std::runtime_error("a kernel failed")).code, 1);
  EXPECT_EQ(failure_of(std::logic_error("evaluate() without data.val")).code, 1);
  EXPECT_EQ(failure_of(std::bad_alloc()).code, 1);
  const std::system_error not_a_path(std::make_error_code(std::errc::io_error), "write");
  EXPECT_EQ(failure_of(not_a_path).code, 1);
}

TEST(ExitCodes, MessageIsWhatTheExceptionSays) {
  EXPECT_EQ(failure_of(ConfigError("train.max_steps must be > 0")).message, "train.max_steps must be > 0");
  EXPECT_EQ(failure_of(std::runtime_error("injected failure after step 3")).message, "injected failure after step 3");
}

TEST(ExitCodes, AttemptCatchesAndClassifies) {
  EXPECT_EQ(attempt([] {}).code, 0);
  EXPECT_EQ(attempt([] {}).message, "");
  const Failure bad = attempt([] { throw DataError("val.bin is empty"); });
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(bad.message, "val.bin is empty");
  EXPECT_EQ(attempt([] { throw std::runtime_error("internal"); }).code, 1);
}

TEST(ExitCodes, ErrorLineIsOneLine) {
  EXPECT_EQ(error_line("no such key"), "error: no such key\n");
}

TEST(ExitCodes, FailPrintsTheLineAndReturnsTheCode) {
  testing::internal::CaptureStderr();
  const int code = fail(2, "config.toml: no such file");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "error: config.toml: no such file\n");
  EXPECT_EQ(code, 2);
}

TEST(ExitCodes, ExitCodeOfReturnsTheBodysCodeOrTheExceptions) {
  EXPECT_EQ(exit_code_of([] { return 0; }), 0);
  EXPECT_EQ(exit_code_of([] { return 3; }), 3);
  std::vector<std::string> order;
  testing::internal::CaptureStderr();
  const int bad = exit_code_of([]() -> int { throw ConfigError("--dtype"); }, [&] { order.push_back("before"); });
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "error: --dtype\n");
  EXPECT_EQ(bad, 2);
  EXPECT_EQ(order, std::vector<std::string>{"before"});
  testing::internal::CaptureStderr();
  const int internal = exit_code_of([]() -> int { throw std::runtime_error("disk full"); });
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "error: disk full\n");
  EXPECT_EQ(internal, 1);
}

TEST(ExitCodes, BeforeErrorRunsOnlyOnAnException) {
  bool ran = false;
  EXPECT_EQ(exit_code_of([] { return 0; }, [&] { ran = true; }), 0);
  EXPECT_FALSE(ran);
}

// Runs `check` on the CLI11 error `args` make `app` throw (caught by reference: app.exit tells
// --help from the type).
template <class Check>
void on_parse_error(CLI::App& app, std::vector<std::string> args, const Check& check) {
  std::vector<char*> argv{const_cast<char*>("tool")};
  for (std::string& a : args) argv.push_back(a.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    check(e);
    return;
  }
  ADD_FAILURE() << "the command line parsed";
}

TEST(ExitCodes, CommandLineErrorsGiveTwo) {
  CLI::App app("a tool");
  std::string out;
  app.add_option("--out", out)->required();
  on_parse_error(app, {}, [](const CLI::ParseError& missing) {
    const Failure plain = command_line_failure(missing);
    EXPECT_EQ(plain.code, 2);
    EXPECT_EQ(plain.message, missing.what());
    const Failure named = command_line_failure(missing, "export");
    EXPECT_EQ(named.code, 2);
    EXPECT_EQ(named.message, std::string("export: ") + missing.what() + " (see export --help)");
  });
  on_parse_error(app, {"--out", "x", "--bogus"}, [&](const CLI::ParseError& unknown) {
    testing::internal::CaptureStderr();
    const int code = command_line_exit(app, unknown, "prepare");
    EXPECT_EQ(testing::internal::GetCapturedStderr(),
              std::string("error: prepare: ") + unknown.what() + " (see prepare --help)\n");
    EXPECT_EQ(code, 2);
  });
}

TEST(ExitCodes, HelpGivesZeroAndTheHelpText) {
  CLI::App app("a tool that helps");
  on_parse_error(app, {"--help"}, [&](const CLI::ParseError& help) {
    EXPECT_EQ(command_line_failure(help, "generate").code, 0);
    testing::internal::CaptureStdout();
    testing::internal::CaptureStderr();
    const int code = command_line_exit(app, help, "generate");
    const std::string err = testing::internal::GetCapturedStderr();
    const std::string out = testing::internal::GetCapturedStdout();
    EXPECT_EQ(code, 0);
    EXPECT_NE(out.find("a tool that helps"), std::string::npos) << out;
    EXPECT_EQ(err, "");
  });
}

}  // namespace
}  // namespace gpt
