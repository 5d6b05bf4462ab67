// `train CONFIG.toml [--section.key=value ...]`: one training run described by a TOML file.
// Exit codes: 0 done, 2 bad input (config, data, command line), 1 internal failure.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/ops/make_backend.h"
#include "dist/communicator.h"
#include "train/run_config.h"
#include "train/trainer.h"

namespace {

int fail(int code, const std::string& message) {
  std::cerr << "error: " << message << std::endl;
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Train a GPT-2-style model from one TOML run description.\n"
      "Any config key can be overridden as --section.key=value, e.g. --optim.lr=3e-4."};
  std::string config_path;
  app.add_option("config", config_path, "the run's TOML file")->required();
  app.allow_extras();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(2, e.what());
  }

  try {
    std::vector<std::string> overrides;
    for (const std::string& arg : app.remaining()) {
      if (arg.rfind("--", 0) != 0 || arg.find('=') == std::string::npos || arg.find('.') == std::string::npos)
        throw gpt::ConfigError("command line: '" + arg + "' is not of the form --section.key=value");
      overrides.push_back(arg);
    }
    const gpt::RunConfig config = gpt::load_run_config(config_path, overrides);
    auto backend =
        gpt::make_backend(config.train.backend, config.train.precision, static_cast<int>(config.train.threads));
    gpt::SingleRank comm;
    gpt::Trainer trainer(config, *backend, comm);
    const gpt::TrainSummary summary = trainer.run(std::cout);
    if (summary.first_val_loss)
      std::cout << "val_loss " << *summary.first_val_loss << " -> " << *summary.last_val_loss << std::endl;
    return 0;
  } catch (const gpt::InputError& e) {
    return fail(2, e.what());
  } catch (const std::filesystem::filesystem_error& e) {
    return fail(2, e.what());
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
}
