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
#include "launch/exit_codes.h"
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

std::string rank_prefix(const gpt::Communicator& comm) {
  return comm.world_size() > 1 ? "rank " + std::to_string(comm.rank()) + ": " : "";
}

// Setup failures are agreed on before anyone sends data, so no rank is left waiting: every rank
// learns the worst exit code, and only the lowest failing rank prints (ranks usually fail alike,
// e.g. on a bad config, and one line is enough).
int agree_on_setup(gpt::Communicator& comm, const gpt::Failure& mine) {
  const std::vector<std::uint64_t> codes = comm.all_gather_u64(static_cast<std::uint64_t>(mine.code));
  const auto first = std::find_if(codes.begin(), codes.end(), [](std::uint64_t c) { return c != 0; });
  if (first == codes.end()) return 0;
  const bool everyone = std::all_of(codes.begin(), codes.end(), [](std::uint64_t c) { return c != 0; });
  if (first - codes.begin() == comm.rank()) gpt::print_error((everyone ? "" : rank_prefix(comm)) + mine.message);
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

struct CommandLine {
  std::string config_path, init_from;
  bool resume = false, overwrite = false;
  std::vector<std::string> extras;  // the --section.key=value overrides, checked with the config
};

// Fills `line`; returns an exit code when the process ends here instead (--help, or a command
// line CLI11 refuses). Only rank 0 prints: every rank parsed the same command line.
std::optional<int> parse_command_line(int argc, char** argv, bool leader, CommandLine& line) {
  CLI::App app{
      "Train a GPT-2-style model from one TOML run description.\n"
      "Any config key can be overridden as --section.key=value, e.g. --optim.lr=3e-4.\n"
      "Several ranks: mpirun -np N train run.toml (or launch/train-mpi, or srun --mpi=pmix)."};
  app.add_option("config", line.config_path, "the run's TOML file")->required();
  app.add_flag("--resume", line.resume,
               "continue from the newest valid checkpoint in run.dir (an error if there is none); "
               "checkpoint.resume = \"auto\" does the same when one exists");
  app.add_option("--init-from", line.init_from,
                 "start a new run from the parameters only (fine-tuning) of a checkpoint file, or of a Hugging "
                 "Face GPT-2 folder given as hf:DIR (config.json, model.safetensors); with "
                 "checkpoint.resume = auto, only while run.dir has no checkpoint");
  app.add_flag("--overwrite", line.overwrite,
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
  } catch (const CLI::ParseError& e) {  // CLI::Success (--help, --config-reference) exits 0
    return leader ? gpt::command_line_exit(app, e) : gpt::command_line_failure(e).code;
  }
  line.extras = app.remaining();
  return std::nullopt;
}

// One rank of a training job, set up phase by phase. Each setup phase returns the exit code the
// ranks agreed on (agree_on_setup), 0 to go on.
class TrainJob {
 public:
  // MPI when mpirun or srun started this process, else one rank. Prints its own error.
  int start_ranks(int& argc, char**& argv) {
    const gpt::Failure failure = gpt::attempt([&] {
      if (gpt::MpiRuntime::launched()) mpi_.emplace(&argc, &argv);
      host_ = host_communicator();
    });
    return failure.code ? gpt::fail(failure.code, failure.message) : 0;
  }

  bool leader() const { return host_->rank() == 0; }

  // Rank-local: the config with its overrides, bounded MPI waits, and the backend.
  int load_config_and_backend(const CommandLine& line) {
    return setup_phase([&] {
      config_ = gpt::load_run_config(line.config_path, parse_overrides(line.extras));
#ifdef GPT_HAVE_MPI
      // A lost node or a cut link leaves MPI waiting for ever: dist.timeout_s bounds every wait.
      if (auto* mpi_comm = dynamic_cast<gpt::MpiCommunicator*>(host_.get())) mpi_comm->watch(config_.dist.timeout_s);
#endif
      backend_ =
          gpt::make_backend(config_.train.backend, config_.train.precision, cpu_threads(config_), host_->local_rank());
      check_device_ranks(*backend_, *host_);
    });
  }

  // Several CUDA ranks exchange through NCCL (collective); the others through the host's.
  int connect_devices() {
#ifdef GPT_HAVE_NCCL
    if (auto* cuda = dynamic_cast<gpt::CudaBackend*>(backend_.get()); cuda && host_->world_size() > 1) {
      return setup_phase([&] {
        device_comm_ =
            std::make_unique<gpt::NcclCommunicator>(*host_, cuda->device(), cuda->stream(), config_.dist.timeout_s);
      });
    }
#endif
    return 0;
  }

  // The data and the model, rank 0's sample hook, and rank 0's lock on run.dir.
  int build_trainer_and_lock_run_dir(const CommandLine& line) {
    return refused_unless_agreed([&] {
      if (line.resume && !line.init_from.empty()) throw gpt::ConfigError("--resume and --init-from exclude each other");
      if (line.resume && line.overwrite) throw gpt::ConfigError("--resume and --overwrite exclude each other");
      trainer_.emplace(config_, *backend_, comm());
      if (leader()) sample_ = sample_hook(config_);
      if (leader()) lock_run_dir();
    });
  }

  // Where the run starts (a checkpoint, another model's parameters, or step 0), and rank 0's claim
  // on run.dir for a run that starts at step 0.
  int resume_or_init(const CommandLine& line) {
    return refused_unless_agreed([&] {
      // With checkpoint.resume = "auto", a requeued fine-tuning job continues from its own
      // checkpoints once it has some; --init-from only starts it. --overwrite starts afresh.
      const bool auto_resume = config_.checkpoint.resume == "auto" && !line.overwrite;
      const bool resumed = !line.init_from.empty() && auto_resume && trainer_->resume(std::cerr);
      if (resumed) {
        if (leader()) std::cout << "init-from: not used, checkpoint.resume = auto found a checkpoint" << std::endl;
      } else if (!line.init_from.empty()) {
        const std::string report = trainer_->init_from(line.init_from);
        if (leader()) std::cout << report << std::endl;
      } else if (line.resume || auto_resume) {
        const bool found = trainer_->resume(std::cerr);
        if (!found && line.resume)
          throw gpt::ConfigError("--resume: no valid checkpoint in " + (config_.run.dir / "checkpoints").string());
      }
      if (leader() && trainer_->start_step() == 0)
        gpt::claim_run_folder(config_, {.overwrite = line.overwrite, .auto_resume = auto_resume}, std::cout);
    });
  }

  // Training, then rank 0's report. A failure on one rank must not leave the others blocked in a
  // collective: it ends the whole job.
  int train(const gpt::StopSignals& stop_signals) {
    // A status line redrawn in place only on a real terminal: Open MPI gives its ranks a pty even
    // when mpirun's own output goes to a file, so under MPI the ranks' isatty says nothing.
    const bool terminal = isatty(STDOUT_FILENO) == 1 && !gpt::MpiRuntime::launched();
    const gpt::Failure failure = gpt::attempt([&] {
      report(trainer_->run(std::cout, {.after_step = failure_injection(comm().rank()),
                                       .stop_requested = [&] { return stop_signals.requested(); },
                                       .sample = sample_,
                                       .console_is_terminal = terminal}));
    });
    if (failure.code) {
      gpt::print_error(rank_prefix(comm()) + failure.message);
      if (comm().world_size() > 1) gpt::MpiRuntime::abort(failure.code);
    }
    return failure.code;
  }

 private:
  std::optional<gpt::MpiRuntime> mpi_;
  std::unique_ptr<gpt::Communicator> host_;
  gpt::RunConfig config_;
  std::unique_ptr<gpt::Backend> backend_;
  std::unique_ptr<gpt::Communicator> device_comm_;
  std::optional<gpt::Trainer> trainer_;
  SampleFn sample_;                          // rank 0's, when log.sample_interval asks for samples
  std::optional<gpt::RunDirLock> run_lock_;  // held by rank 0 until the process ends
  bool made_run_dir_ = false;                // by this process, for the lock

  gpt::Communicator& comm() {
    return device_comm_ ? *device_comm_ : *host_;
  }

  int setup_phase(const std::function<void()>& phase) {
    return agree_on_setup(*host_, gpt::attempt(phase));
  }

  // A run refused before its first step leaves no folder behind that only it made.
  int refused_unless_agreed(const std::function<void()>& phase) {
    const int code = setup_phase(phase);
    if (code) forget_run_dir();
    return code;
  }

  void lock_run_dir() {
    std::error_code ec;
    made_run_dir_ = !std::filesystem::exists(config_.run.dir, ec) && !ec;
    run_lock_.emplace(config_.run.dir);
    if (!run_lock_->held())
      std::cerr << "warning: " << (config_.run.dir / "train.lock").string() << " cannot be locked ("
                << run_lock_->problem() << "): make sure no other train uses this run.dir\n";
  }

  void forget_run_dir() {
    if (!made_run_dir_) return;
    run_lock_.reset();
    std::error_code ignored;
    std::filesystem::remove(config_.run.dir / "train.lock", ignored);
    std::filesystem::remove(config_.run.dir, ignored);  // only if nothing else is in it
  }

  void report(const gpt::TrainSummary& summary) {
    if (leader() && summary.first_val_loss)
      std::cout << "val_loss " << *summary.first_val_loss << " -> " << *summary.last_val_loss << std::endl;
  }
};

}  // namespace

int main(int argc, char** argv) {
  // First, before MPI or OpenMP start threads; it lives as long as the process (its thread
  // outlives main's return, so it is never destroyed).
  // SIGTERM (how Slurm preempts), SIGINT and SIGUSR1 (which mpirun forwards to every rank, where
  // on SIGTERM it kills the job after a few seconds) ask the run to stop after the current step
  // with a checkpoint.
  static gpt::StopSignals& stop_signals = *new gpt::StopSignals({SIGTERM, SIGINT, SIGUSR1});
  TrainJob job;
  if (const int code = job.start_ranks(argc, argv)) return code;
  CommandLine line;
  if (const std::optional<int> code = parse_command_line(argc, argv, job.leader(), line)) return *code;
  if (const int code = job.load_config_and_backend(line)) return code;
  if (const int code = job.connect_devices()) return code;
  if (const int code = job.build_trainer_and_lock_run_dir(line)) return code;
  if (const int code = job.resume_or_init(line)) return code;
  return job.train(stop_signals);
}
