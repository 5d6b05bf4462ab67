// `train CONFIG.toml [--section.key=value ...]`: one training run described by a TOML file, on
// one process or on every rank of `mpirun -np N` / `srun --mpi=pmix`.
// Exit codes: 0 done, 2 bad input (config, data, command line), 1 internal failure. In a
// multi-rank job a rank that fails during training ends the whole job (MPI_Abort).
#include <omp.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <algorithm>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/cpu_count.h"
#include "core/errors.h"
#include "core/ops/make_backend.h"
#include "dist/communicator.h"
#include "dist/mpi_runtime.h"
#include "launch/stop_signals.h"
#include "train/run_config.h"
#include "train/run_folder.h"
#include "train/run_lock.h"
#include "train/trainer.h"
#ifdef GPT_HAVE_MPI
#include "dist/mpi_communicator.h"
#endif
#ifdef GPT_HAVE_TOKENIZER
#include "core/generate/generator.h"
#include "data/tokenizer/default_vocabulary.h"
#include "data/tokenizer/tokenizer.h"
#endif
#ifdef GPT_HAVE_NCCL
#include "core/ops/cuda/cuda_backend.h"
#include "dist/nccl_communicator.h"
#endif

namespace {

struct Failure {
  int code = 0;  // 0: none
  std::string message;
};

// Runs `work`, turning an exception into the exit code it deserves and its message.
Failure attempt(const std::function<void()>& work) {
  try {
    work();
    return {};
  } catch (const gpt::InputError& e) {
    return {2, e.what()};
  } catch (const std::filesystem::filesystem_error& e) {
    return {2, e.what()};
  } catch (const std::exception& e) {
    return {1, e.what()};
  }
}

// One write, so that lines from several ranks sharing the terminal do not interleave mid-line.
void print_error(const std::string& message) {
  const std::string line = "error: " + message + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

std::string rank_prefix(const gpt::Communicator& comm) {
  return comm.world_size() > 1 ? "rank " + std::to_string(comm.rank()) + ": " : "";
}

// Setup failures are agreed on before anyone sends data, so no rank is left waiting: every rank
// learns the worst exit code, and only the lowest failing rank prints (ranks usually fail alike,
// e.g. on a bad config, and one line is enough).
int agree_on_setup(gpt::Communicator& comm, const Failure& mine) {
  const std::vector<std::uint64_t> codes = comm.all_gather_u64(static_cast<std::uint64_t>(mine.code));
  const auto first = std::find_if(codes.begin(), codes.end(), [](std::uint64_t c) { return c != 0; });
  if (first == codes.end()) return 0;
  const bool everyone = std::all_of(codes.begin(), codes.end(), [](std::uint64_t c) { return c != 0; });
  if (first - codes.begin() == comm.rank()) print_error((everyone ? "" : rank_prefix(comm)) + mine.message);
  return static_cast<int>(*std::max_element(codes.begin(), codes.end()));
}

std::vector<std::string> parse_overrides(const std::vector<std::string>& args) {
  std::vector<std::string> overrides;
  for (const std::string& arg : args) {
    if (arg.rfind("--", 0) != 0 || arg.find('=') == std::string::npos || arg.find('.') == std::string::npos)
      throw gpt::ConfigError("command line: '" + arg + "' is not of the form --section.key=value");
    overrides.push_back(arg);
  }
  return overrides;
}

// GPT_INJECT_FAILURE="RANK:STEP" makes that rank throw after that step: how the tests check
// that one failing rank ends the whole job instead of hanging it.
std::function<void(std::int64_t)> failure_injection(int rank) {
  const char* spec = std::getenv("GPT_INJECT_FAILURE");
  int fail_rank = -1;
  long long fail_step = -1;
  if (!spec || std::sscanf(spec, "%d:%lld", &fail_rank, &fail_step) != 2 || fail_rank != rank) return {};
  return [fail_step](std::int64_t step) {
    if (step == fail_step) throw std::runtime_error("injected failure after step " + std::to_string(step));
  };
}

// The CPU backend's thread count is decided here, not in the library, by cpu::choose_threads's
// rules: train.threads when set (> 0); else, when OMP_NUM_THREADS is set (launch/train-mpi and
// the sbatch scripts set it per rank), OpenMP's own default, which follows that variable; else
// every CPU this process may use: its affinity mask capped by a cgroup CPU quota, which OpenMP's
// default ignores (a 2-CPU container on a 64-core host would run 64 threads).
int cpu_threads(const gpt::RunConfig& config) {
  return gpt::cpu::choose_threads(static_cast<int>(config.train.threads), std::getenv("OMP_NUM_THREADS"),
                                  omp_get_max_threads());
}

// Several GPU ranks need NCCL (our MPI is not CUDA-aware) and a GPU each (NCCL refuses two
// ranks on one device).
void check_device_ranks(const gpt::Backend& backend, const gpt::Communicator& host) {
  if (host.world_size() == 1 || backend.name().rfind("cuda", 0) != 0) return;
#ifdef GPT_HAVE_NCCL
  const int devices = gpt::cuda_device_count();
  if (host.local_size() > devices)
    throw gpt::ConfigError(std::to_string(host.local_size()) + " ranks on this node but " + std::to_string(devices) +
                           " GPU(s) visible: start one rank per GPU (launch/train-mpi counts them)");
#else
  throw gpt::ConfigError("several CUDA ranks need NCCL, which this build did not find (see README, 'The GPU path')");
#endif
}

using SampleFn = std::function<std::string(gpt::GPT&, std::int64_t)>;

// log.sample_interval > 0: the trainer's sample hook, rank 0's. It continues log.sample_prompt
// with the same seed (train.seed) each time, so consecutive samples differ by training alone.
SampleFn sample_hook(const gpt::RunConfig& config) {
  const gpt::LogConfig& log = config.log;
  if (log.sample_interval == 0) return {};
#ifdef GPT_HAVE_TOKENIZER
  auto tokenizer = std::make_shared<gpt::Tokenizer>(gpt::Tokenizer::load(gpt::default_vocabulary_dir()));
  if (config.model.real_vocab_size != static_cast<std::int64_t>(tokenizer->vocabulary().size()))
    throw gpt::ConfigError("log.sample_interval: model.real_vocab_size is " +
                           std::to_string(config.model.real_vocab_size) + ", the GPT-2 tokenizer has " +
                           std::to_string(tokenizer->vocabulary().size()) + " tokens");
  const std::vector<gpt::TokenId> ids = tokenizer->encode(log.sample_prompt, gpt::SpecialTokens::allowed);
  const std::vector<std::int32_t> prompt(ids.begin(), ids.end());
  if (prompt.empty()) throw gpt::ConfigError("log.sample_prompt is empty: the samples need a prompt");
  const gpt::SamplingOptions sampling{.temperature = log.sample_temperature, .top_k = log.sample_top_k};
  sampling.validate();
  const gpt::GenerationOptions generation{.max_new_tokens = log.sample_tokens,
                                          .end_token = static_cast<std::int32_t>(tokenizer->end_of_text())};
  generation.validate(config.model);
  const auto seed = static_cast<std::uint64_t>(config.train.seed);
  return [=](gpt::GPT& model, std::int64_t) {
    gpt::Generator generator(model, generation);
    const auto tokens = generator.sample(prompt, sampling, seed, 1);
    return log.sample_prompt + tokenizer->decode(std::vector<gpt::TokenId>(tokens[0].begin(), tokens[0].end()));
  };
#else
  throw gpt::ConfigError(
      "log.sample_interval needs the GPT-2 tokenizer, and this build has none (PCRE2 or libxxhash "
      "was not found)");
#endif
}

std::unique_ptr<gpt::Communicator> host_communicator() {
#ifdef GPT_HAVE_MPI
  if (gpt::MpiRuntime::launched()) return std::make_unique<gpt::MpiCommunicator>();
#endif
  return std::make_unique<gpt::SingleRank>();
}

}  // namespace

int main(int argc, char** argv) {
  // First, before MPI or OpenMP start threads; it lives as long as the process (its thread
  // outlives main's return, so it is never destroyed).
  // SIGTERM (how Slurm preempts), SIGINT and SIGUSR1 (which mpirun forwards to every rank, where
  // on SIGTERM it kills the job after a few seconds) ask the run to stop after the current step
  // with a checkpoint.
  static gpt::StopSignals& stop_signals = *new gpt::StopSignals({SIGTERM, SIGINT, SIGUSR1});
  std::optional<gpt::MpiRuntime> mpi;
  std::unique_ptr<gpt::Communicator> host;
  if (const Failure f = attempt([&] {
        if (gpt::MpiRuntime::launched()) mpi.emplace(&argc, &argv);
        host = host_communicator();
      });
      f.code) {
    print_error(f.message);
    return f.code;
  }
  const bool leader = host->rank() == 0;

  CLI::App app{
      "Train a GPT-2-style model from one TOML run description.\n"
      "Any config key can be overridden as --section.key=value, e.g. --optim.lr=3e-4.\n"
      "Several ranks: mpirun -np N train run.toml (or launch/train-mpi, or srun --mpi=pmix)."};
  std::string config_path, init_from;
  bool resume = false, overwrite = false;
  app.add_option("config", config_path, "the run's TOML file")->required();
  app.add_flag("--resume", resume,
               "continue from the newest valid checkpoint in run.dir (an error if there is none); "
               "checkpoint.resume = \"auto\" does the same when one exists");
  app.add_option("--init-from", init_from,
                 "start a new run from the parameters only (fine-tuning) of a checkpoint file, or of a Hugging "
                 "Face GPT-2 folder given as hf:DIR (config.json, model.safetensors); with "
                 "checkpoint.resume = auto, only while run.dir has no checkpoint");
  app.add_flag("--overwrite", overwrite,
               "start at step 0 even though run.dir holds an earlier run: its checkpoints, metrics.jsonl, tb/ "
               "and samples.txt are deleted first (without it such a start is refused)");
  // Needs no config file: its callback runs before CLI11 checks for the required positional.
  app.add_flag_callback(
      "--config-reference",
      [leader] {
        if (leader) std::cout << gpt::config_reference();
        throw CLI::Success();
      },
      "print every config key (type, default, allowed values, whether a resume may change it, meaning) as "
      "Markdown, the reference of configs/README.md, and exit");
  app.allow_extras();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return leader ? app.exit(e) : 0;
  } catch (const CLI::Success&) {
    return 0;  // --config-reference
  } catch (const CLI::ParseError& e) {
    if (leader) print_error(e.what());
    return 2;  // every rank parsed the same command line
  }

  // Setup, rank-local: config, backend, data, model. Then the (collective) device communicator.
  gpt::RunConfig config;
  std::unique_ptr<gpt::Backend> backend;
  std::unique_ptr<gpt::Communicator> device_comm;
  std::optional<gpt::Trainer> trainer;
  SampleFn sample;  // rank 0's, when log.sample_interval asks for samples
  Failure setup = attempt([&] {
    config = gpt::load_run_config(config_path, parse_overrides(app.remaining()));
#ifdef GPT_HAVE_MPI
    // A lost node or a cut link leaves MPI waiting for ever: dist.timeout_s bounds every wait.
    if (auto* mpi_comm = dynamic_cast<gpt::MpiCommunicator*>(host.get())) mpi_comm->watch(config.dist.timeout_s);
#endif
    backend = gpt::make_backend(config.train.backend, config.train.precision, cpu_threads(config), host->local_rank());
    check_device_ranks(*backend, *host);
  });
  if (const int code = agree_on_setup(*host, setup)) return code;
#ifdef GPT_HAVE_NCCL
  if (auto* cuda = dynamic_cast<gpt::CudaBackend*>(backend.get()); cuda && host->world_size() > 1) {
    setup = attempt([&] {
      device_comm =
          std::make_unique<gpt::NcclCommunicator>(*host, cuda->device(), cuda->stream(), config.dist.timeout_s);
    });
    if (const int code = agree_on_setup(*host, setup)) return code;
  }
#endif
  gpt::Communicator& comm = device_comm ? *device_comm : *host;
  std::optional<gpt::RunDirLock> run_lock;  // held by rank 0 until the process ends
  bool made_run_dir = false;                // by this process, for the lock
  // A run refused before its first step leaves no folder behind that only it made.
  auto forget_run_dir = [&] {
    if (!made_run_dir) return;
    run_lock.reset();
    std::error_code ignored;
    std::filesystem::remove(config.run.dir / "train.lock", ignored);
    std::filesystem::remove(config.run.dir, ignored);  // only if nothing else is in it
  };
  setup = attempt([&] {
    if (resume && !init_from.empty()) throw gpt::ConfigError("--resume and --init-from exclude each other");
    if (resume && overwrite) throw gpt::ConfigError("--resume and --overwrite exclude each other");
    trainer.emplace(config, *backend, comm);
    if (leader) sample = sample_hook(config);
    if (leader) {
      std::error_code ec;
      made_run_dir = !std::filesystem::exists(config.run.dir, ec) && !ec;
      run_lock.emplace(config.run.dir);
      if (!run_lock->held())
        std::cerr << "warning: " << (config.run.dir / "train.lock").string() << " cannot be locked ("
                  << run_lock->problem() << "): make sure no other train uses this run.dir\n";
    }
  });
  if (const int code = agree_on_setup(*host, setup)) {
    forget_run_dir();
    return code;
  }
  setup = attempt([&] {
    // With checkpoint.resume = "auto", a requeued fine-tuning job continues from its own
    // checkpoints once it has some; --init-from only starts it. --overwrite starts afresh.
    const bool auto_resume = config.checkpoint.resume == "auto" && !overwrite;
    const bool resumed = !init_from.empty() && auto_resume && trainer->resume(std::cerr);
    if (resumed) {
      if (leader) std::cout << "init-from: not used, checkpoint.resume = auto found a checkpoint" << std::endl;
    } else if (!init_from.empty()) {
      const std::string report = trainer->init_from(init_from);
      if (leader) std::cout << report << std::endl;
    } else if (resume || auto_resume) {
      const bool found = trainer->resume(std::cerr);
      if (!found && resume)
        throw gpt::ConfigError("--resume: no valid checkpoint in " + (config.run.dir / "checkpoints").string());
    }
    if (leader && trainer->start_step() == 0)
      gpt::claim_run_folder(config, {.overwrite = overwrite, .auto_resume = auto_resume}, std::cout);
  });
  if (const int code = agree_on_setup(*host, setup)) {
    forget_run_dir();
    return code;
  }

  // A status line redrawn in place only on a real terminal: Open MPI gives its ranks a pty even
  // when mpirun's own output goes to a file, so under MPI the ranks' isatty says nothing.
  const bool terminal = isatty(STDOUT_FILENO) == 1 && !gpt::MpiRuntime::launched();
  // Training: a failure on one rank must not leave the others blocked in a collective.
  const Failure run = attempt([&] {
    const gpt::TrainSummary summary =
        trainer->run(std::cout, {.after_step = failure_injection(comm.rank()),
                                 .stop_requested = [&] { return stop_signals.requested(); },
                                 .sample = sample,
                                 .console_is_terminal = terminal});
    if (leader && summary.first_val_loss)
      std::cout << "val_loss " << *summary.first_val_loss << " -> " << *summary.last_val_loss << std::endl;
  });
  if (run.code) {
    print_error(rank_prefix(comm) + run.message);
    if (comm.world_size() > 1) gpt::MpiRuntime::abort(run.code);
  }
  return run.code;
}
