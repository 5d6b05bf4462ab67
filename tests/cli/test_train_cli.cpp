// The `train` binary as a user runs it. Bad input (config, data, command line) must give exit code 2,
// exactly one stderr line "error: ..." naming the problem, and no run directory; an internal failure
// exits 1; and the shipped tiny config must learn.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_data.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kTrainBin = GPT_TRAIN_BIN;
const fs::path kSourceDir = GPT_SOURCE_DIR;
const fs::path kTrainData = gpt::test::tinystories_file("TinyStories-train-sample.bin");
const fs::path kValData = gpt::test::tinystories_file("TinyStories-valid-sample.bin");
const fs::path kTinyConfig = kSourceDir / "configs" / "tiny.toml";

// Every run is killed after this long, so that a hang fails its test instead of stalling the
// suite; generous, as TinyConfigLearns takes one to three minutes on two busy CPUs.
constexpr std::chrono::seconds kRunTimeLimit{900};
// Bad input is refused before any training starts; this is many times what that takes.
constexpr std::chrono::seconds kBadInputTimeLimit{30};

struct RunResult {
  bool exited = false;  // false: killed by a signal (or never ran)
  int exit_code = -1;
  int signal = 0;
  bool timed_out = false;  // still running at the time limit, then killed
  std::string out, err;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  ASSERT_TRUE(out) << "cannot write " << path;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string describe(const RunResult& r) {
  std::ostringstream s;
  if (r.timed_out)
    s << "did not finish in time, killed";
  else if (r.exited)
    s << "exit code " << r.exit_code;
  else
    s << "killed by signal " << r.signal;
  s << "\n--- stderr ---\n"
    << r.err << "--- stdout (tail) ---\n"
    << (r.out.size() > 2000 ? r.out.substr(r.out.size() - 2000) : r.out);
  return s.str();
}

// One line on stderr, starting "error: " and containing every fragment.
::testing::AssertionResult one_error_line(const RunResult& r, const std::vector<std::string>& fragments) {
  if (!r.exited) return ::testing::AssertionFailure() << describe(r);
  const std::vector<std::string> lines = lines_of(r.err);
  if (lines.size() != 1 || r.err.back() != '\n')
    return ::testing::AssertionFailure() << "stderr is not exactly one line\n" << describe(r);
  if (lines[0].rfind("error: ", 0) != 0)
    return ::testing::AssertionFailure() << "stderr does not start with 'error: '\n" << describe(r);
  for (const std::string& f : fragments)
    if (lines[0].find(f) == std::string::npos)
      return ::testing::AssertionFailure() << "stderr does not mention '" << f << "'\n" << describe(r);
  return ::testing::AssertionSuccess();
}

// A minimal valid run description; `model_extra` and `optim_extra` go at the end of those sections.
std::string small_toml(const std::string& model_extra = "", const std::string& optim_extra = "") {
  return "[model]\n"
         "vocab_size = 512\n"
         "block_size = 32\n"
         "n_layer = 1\n"
         "n_head = 2\n"
         "n_embd = 32\n" +
         model_extra +
         "\n"
         "[data]\n"
         "train = \"" +
         kTrainData.string() +
         "\"\n"
         "val = \"" +
         kValData.string() +
         "\"\n"
         "\n"
         "[train]\n"
         "max_steps = 1\n"
         "micro_batch = 2\n"
         "\n"
         "[optim]\n"
         "lr = 1e-3\n" +
         optim_extra;
}

class TrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "train_cli_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    tmp_ = pattern;
    run_dir_ = tmp_ / "run";
  }

  void TearDown() override {
    std::error_code ec;
    if (!tmp_.empty()) fs::remove_all(tmp_, ec);
  }

  // Runs `train args...` in the temp dir with stdout and stderr captured to files there; kills it
  // (and fails the test) when it runs longer than `time_limit`.
  RunResult run_train(std::vector<std::string> args, std::chrono::seconds time_limit = kRunTimeLimit) {
    const fs::path out_path = tmp_ / "stdout.txt", err_path = tmp_ / "stderr.txt";
    args.insert(args.begin(), kTrainBin.string());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    std::cout.flush();
    std::cerr.flush();
    RunResult r;
    const pid_t pid = ::fork();
    if (pid < 0) {
      ADD_FAILURE() << "fork: " << std::strerror(errno);
      return r;
    }
    if (pid == 0) {
      const int in = ::open("/dev/null", O_RDONLY);
      const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0 ||
          ::chdir(tmp_.c_str()) != 0)
        ::_exit(126);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + time_limit;
    for (;;) {
      const pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) break;
      if (done < 0 && errno != EINTR) {
        ADD_FAILURE() << "waitpid: " << std::strerror(errno);
        return r;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        r.timed_out = true;
        ADD_FAILURE() << "train " << args[1] << " ... ran longer than " << time_limit.count() << " s; killed";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    r.exited = !r.timed_out && WIFEXITED(status);
    if (r.exited) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    r.out = read_file(out_path);
    r.err = read_file(err_path);
    return r;
  }

  // Bad input: exit code 2, one "error: " line mentioning every fragment, and no run directory.
  void expect_bad_input(const RunResult& r, const std::vector<std::string>& fragments) {
    EXPECT_TRUE(r.exited && r.exit_code == 2) << describe(r);
    EXPECT_TRUE(one_error_line(r, fragments));
    EXPECT_FALSE(fs::exists(run_dir_)) << "half-written output left at " << run_dir_;
  }

  // The shipped tiny config with absolute data paths and the run directory in the temp dir.
  std::vector<std::string> tiny_args(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {kTinyConfig.string(), "--data.train=" + kTrainData.string(),
                                     "--data.val=" + kValData.string(), "--run.dir=" + run_dir_.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  fs::path write_config(const std::string& text) {
    const fs::path path = tmp_ / "cfg.toml";
    write_file(path, text);
    return path;
  }

  std::string run_dir_arg() const { return "--run.dir=" + run_dir_.string(); }

  fs::path tmp_;
  fs::path run_dir_;
};

// 1-based line of the first occurrence of `needle` in `text`.
int line_of(const std::string& text, const std::string& needle) {
  const std::size_t at = text.find(needle);
  return at == std::string::npos ? -1 : 1 + static_cast<int>(std::count(text.begin(), text.begin() + at, '\n'));
}

// ":LINE:" as a "file:LINE: message" error shows it.
std::string line_tag(int line) {
  std::string tag = ":";
  tag += std::to_string(line);
  tag += ':';
  return tag;
}

std::string raw_tokens(const std::vector<std::uint16_t>& tokens) {
  return std::string(reinterpret_cast<const char*>(tokens.data()), tokens.size() * sizeof(std::uint16_t));
}

// ---------------------------------------------------------------------------------------------

TEST_F(TrainCli, HelpExitsZeroAndExplainsOverrides) {
  const RunResult r = run_train({"--help"});
  EXPECT_TRUE(r.exited && r.exit_code == 0) << describe(r);
  EXPECT_NE(r.out.find("--section.key=value"), std::string::npos) << r.out;
}

TEST_F(TrainCli, MissingConfigFile) {
  const std::string path = (tmp_ / "no_such_config.toml").string();
  expect_bad_input(run_train({path, run_dir_arg()}), {path});
}

TEST_F(TrainCli, UnknownKeyInConfigNamesKeyAndLine) {
  const std::string text = small_toml("", "lrr = 0.5\n");
  const fs::path cfg = write_config(text);
  const int line = line_of(text, "lrr = 0.5");
  expect_bad_input(run_train({cfg.string(), run_dir_arg()}), {"lrr", line_tag(line)});
}

TEST_F(TrainCli, WrongTypeNamesKey) {
  std::string text = small_toml();
  text.replace(text.find("n_layer = 1"), 11, "n_layer = \"four\"");
  const fs::path cfg = write_config(text);
  expect_bad_input(run_train({cfg.string(), run_dir_arg()}), {"model.n_layer", line_tag(line_of(text, "n_layer"))});
}

TEST_F(TrainCli, OutOfRangeLearningRate) {
  std::string text = small_toml();
  text.replace(text.find("lr = 1e-3"), 9, "lr = -1");
  const fs::path cfg = write_config(text);
  expect_bad_input(run_train({cfg.string(), run_dir_arg()}), {"optim.lr"});
}

TEST_F(TrainCli, EmbeddingNotDivisibleByHeadsNamesBothKeys) {
  std::string text = small_toml();
  text.replace(text.find("n_head = 2"), 10, "n_head = 3");
  const fs::path cfg = write_config(text);
  expect_bad_input(run_train({cfg.string(), run_dir_arg()}), {"model.n_embd", "model.n_head"});
}

TEST_F(TrainCli, UnknownOverrideKey) {
  expect_bad_input(run_train(tiny_args({"--optim.lrr=1"})), {"optim.lrr"});
}

TEST_F(TrainCli, MalformedOverride) {
  expect_bad_input(run_train(tiny_args({"--optim.lr"})), {"--optim.lr"});
}

TEST_F(TrainCli, BarePositionalExtra) {
  expect_bad_input(run_train(tiny_args({"extra_argument"})), {"extra_argument"});
}

TEST_F(TrainCli, MissingDataFile) {
  const std::string missing = (tmp_ / "missing.bin").string();
  expect_bad_input(run_train(tiny_args({"--data.train=" + missing})), {missing});
}

// open() of a FIFO blocks until something writes to it: the run hung before it was refused.
TEST_F(TrainCli, FifoAsDataFileIsRefusedPromptly) {
  const fs::path fifo = tmp_ / "tokens.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  for (const char* key : {"--data.train=", "--data.val="}) {
    SCOPED_TRACE(key);
    expect_bad_input(run_train(tiny_args({std::string(key) + fifo.string()}), kBadInputTimeLimit),
                     {fifo.string(), "not a regular file"});
  }
}

// Without an upper bound, thousands of threads hung or crashed the OpenMP runtime.
TEST_F(TrainCli, ThreadsAboveTheCapIsBadInput) {
  expect_bad_input(run_train(tiny_args({"--train.threads=100000"}), kBadInputTimeLimit), {"train.threads", "100000"});
}

// Sizes that cannot fit are refused before anything is allocated, with the keys to change
// (a hundred million layers used to grow towards the OOM killer, a huge vocabulary to end in an
// unnamed std::bad_alloc).
TEST_F(TrainCli, ModelThatCannotFitIsRefusedAtOnce) {
  for (const char* size : {"--model.n_layer=100000000", "--model.vocab_size=100000000000"})
    expect_bad_input(run_train(tiny_args({size}), kBadInputTimeLimit),
                     {"the run needs about", "is available", "model.n_layer", "train.micro_batch"});
}

TEST_F(TrainCli, EmptyRunDirIsBadInput) {
  expect_bad_input(run_train(tiny_args({"--run.dir="}), kBadInputTimeLimit), {"run.dir"});
}

TEST_F(TrainCli, TruncatedLlmcTokenFile) {
  const std::string full = read_file(kValData);
  ASSERT_GT(full.size(), 1024u + 2000u) << kValData;
  const fs::path cut = tmp_ / "truncated.bin";
  write_file(cut, full.substr(0, 1024 + 2000));
  expect_bad_input(run_train(tiny_args({"--data.val=" + cut.string()})), {cut.string(), "truncated"});
}

TEST_F(TrainCli, RawTokenOutsideVocabulary) {
  std::vector<std::uint16_t> tokens(4000);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::uint16_t>(i % 1000);
  tokens[1234] = 50300;  // >= model.real_vocab_size (50257)
  const fs::path bad = tmp_ / "bad_token.bin";
  write_file(bad, raw_tokens(tokens));
  expect_bad_input(run_train(tiny_args({"--data.train=" + bad.string()})), {bad.string(), "1234", "50300"});
}

TEST_F(TrainCli, OddSizedRawTokenFile) {
  std::vector<std::uint16_t> tokens(2000, 42);
  const fs::path odd = tmp_ / "odd.bin";
  write_file(odd, raw_tokens(tokens) + "x");
  expect_bad_input(run_train(tiny_args({"--data.train=" + odd.string()})), {odd.string(), "odd"});
}

TEST_F(TrainCli, UnwritableRunDirFailsCleanly) {
  const RunResult r = run_train(tiny_args({"--train.max_steps=1", "--run.dir=/proc/nope/x"}));
  ASSERT_TRUE(r.exited) << describe(r);
  EXPECT_TRUE(r.exit_code == 1 || r.exit_code == 2) << describe(r);
  EXPECT_TRUE(one_error_line(r, {"/proc/nope/x"}));
}

TEST_F(TrainCli, ShortRunWritesConfigAndMetrics) {
  const RunResult r =
      run_train(tiny_args({"--train.max_steps=3", "--eval.interval=2", "--eval.batches=1", "--log.interval=1"}));
  ASSERT_TRUE(r.exited && r.exit_code == 0) << describe(r);
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_NE(r.out.find("step"), std::string::npos) << r.out;

  const std::string config = read_file(run_dir_ / "config.toml");
  EXPECT_NE(config.find("max_steps = 3"), std::string::npos) << config;

  const std::vector<std::string> lines = lines_of(read_file(run_dir_ / "metrics.jsonl"));
  std::vector<std::int64_t> train_steps, val_steps;
  for (const std::string& line : lines) {
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {
      ADD_FAILURE() << "metrics.jsonl line is not JSON (" << e.what() << "): " << line;
      continue;
    }
    ASSERT_TRUE(j.is_object()) << line;
    ASSERT_TRUE(j.contains("step") && j["step"].is_number_integer()) << line;
    const std::int64_t step = j["step"].get<std::int64_t>();
    if (j.contains("val_loss")) {
      EXPECT_TRUE(j["val_loss"].is_number()) << line;
      val_steps.push_back(step);
    }
    if (step > 0) {
      for (const char* key : {"loss", "lr", "grad_norm", "ms", "tokens_per_s"})
        EXPECT_TRUE(j.contains(key) && j[key].is_number()) << "no " << key << " in " << line;
      train_steps.push_back(step);
    }
  }
  EXPECT_EQ(train_steps, (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(val_steps, (std::vector<std::int64_t>{0, 2, 3}));

  // Console: one "step N/3" line per metrics record.
  int step_lines = 0;
  for (const std::string& line : lines_of(r.out))
    if (line.rfind("step ", 0) == 0) ++step_lines;
  EXPECT_EQ(step_lines, static_cast<int>(lines.size())) << r.out;
}

// Every regular file under `dir` with its contents, by relative path.
std::map<std::string, std::string> folder_contents(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().filename() != "train.lock")
      files[fs::relative(entry.path(), dir).string()] = read_file(entry.path());
  return files;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  if (fs::exists(dir))
    for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A small model, so that its checkpoints are small; every test below trains it.
std::vector<std::string> small_model() {
  return {"--model.n_layer=1", "--model.n_embd=32", "--model.n_head=2", "--eval.interval=0", "--log.interval=1"};
}

// Run A checkpointed steps 2 and 4 in run.dir; a run that would start at step 0 there (another
// config, or fine-tuning with --init-from) used to be accepted: keep_last then pruned its own
// checkpoint as older than A's, metrics.jsonl was cut to its lines and tb/ got a second run.
TEST_F(TrainCli, FreshRunIntoAnEarlierRunsFolderIsRefused) {
  std::vector<std::string> a = small_model();
  a.insert(a.end(), {"--train.max_steps=4", "--checkpoint.interval=2"});
  const RunResult first = run_train(tiny_args(a));
  ASSERT_TRUE(first.exited && first.exit_code == 0) << describe(first);
  const std::map<std::string, std::string> before = folder_contents(run_dir_);
  ASSERT_TRUE(before.count("checkpoints/step_00000004.h5") && before.count("metrics.jsonl")) << run_dir_;
  const std::string a_checkpoint = (run_dir_ / "checkpoints" / "step_00000004.h5").string();
  fs::copy_file(a_checkpoint, tmp_ / "a.h5");

  std::vector<std::string> b = small_model();
  b.push_back("--train.max_steps=1");
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{}, std::vector<std::string>{"--init-from=" + (tmp_ / "a.h5").string()}}) {
    std::vector<std::string> args = b;
    args.insert(args.end(), extra.begin(), extra.end());
    const RunResult r = run_train(tiny_args(args), kBadInputTimeLimit);
    EXPECT_TRUE(r.exited && r.exit_code == 2) << describe(r);
    EXPECT_TRUE(one_error_line(
        r, {"holds an earlier run", "checkpoints/step_00000004.h5", "metrics.jsonl", "--resume", "--overwrite"}));
    EXPECT_EQ(folder_contents(run_dir_), before) << "the refused run changed the earlier run's folder";
  }
  const RunResult both = run_train(tiny_args({"--resume", "--overwrite"}), kBadInputTimeLimit);
  EXPECT_TRUE(both.exited && both.exit_code == 2 && one_error_line(both, {"--resume", "--overwrite"}))
      << describe(both);

  // --overwrite: the earlier run is gone, the new one is all there is.
  b.push_back("--overwrite");
  const RunResult over = run_train(tiny_args(b));
  ASSERT_TRUE(over.exited && over.exit_code == 0) << describe(over);
  EXPECT_NE(over.out.find("overwrite: removed the earlier run"), std::string::npos) << over.out;
  EXPECT_EQ(names_in(run_dir_ / "checkpoints"), std::vector<std::string>{"step_00000001.h5"});
  EXPECT_EQ(names_in(run_dir_ / "tb").size(), 1u);
  for (const std::string& line : lines_of(read_file(run_dir_ / "metrics.jsonl")))
    EXPECT_LE(json::parse(line).at("step").get<std::int64_t>(), 1) << line;
}

// A requeued job (checkpoint.resume = auto) that died before its first checkpoint starts again
// with a config it could resume with (here checkpoint.resume itself changed): not another run.
// The same folder with another seed is.
TEST_F(TrainCli, SameRunRestartingBeforeItsFirstCheckpointIsAccepted) {
  std::vector<std::string> args = small_model();
  args.push_back("--train.max_steps=2");
  const RunResult first = run_train(tiny_args(args));
  ASSERT_TRUE(first.exited && first.exit_code == 0) << describe(first);
  fs::remove_all(run_dir_ / "checkpoints");  // as if killed before any checkpoint
  args.push_back("--checkpoint.resume=auto");
  const RunResult again = run_train(tiny_args(args));
  EXPECT_TRUE(again.exited && again.exit_code == 0) << describe(again);
  fs::remove_all(run_dir_ / "checkpoints");
  args.push_back("--train.seed=7");  // a key a resume may not change: another run
  const RunResult other = run_train(tiny_args(args), kBadInputTimeLimit);
  EXPECT_TRUE(other.exited && other.exit_code == 2 && one_error_line(other, {"holds an earlier run", "metrics.jsonl"}))
      << describe(other);
}

// A refused --init-from hf: used to leave the run folder it made for its lock, and the lock.
TEST_F(TrainCli, RefusedInitFromLeavesNoRunFolder) {
  const fs::path hf = tmp_ / "hf";
  fs::create_directories(hf);
  write_file(hf / "config.json", R"({"model_type": "gpt2", "n_layer": 1000000000, "n_embd": 128, "n_head": 4})");
  expect_bad_input(run_train(tiny_args({"--init-from=hf:" + hf.string()}), kBadInputTimeLimit),
                   {"config.json does not fit the run's model", "n_layer is 1000000000"});
  const fs::path fifo_hf = tmp_ / "fifo_hf";
  fs::create_directories(fifo_hf);
  ASSERT_EQ(::mkfifo((fifo_hf / "config.json").c_str(), 0600), 0) << std::strerror(errno);
  expect_bad_input(run_train(tiny_args({"--init-from=hf:" + fifo_hf.string()}), kBadInputTimeLimit),
                   {"config.json is not a regular file (a FIFO)"});
}

// The shipped tiny config, as a user would run it, must beat the unigram baseline of the sample.
TEST_F(TrainCli, TinyConfigLearns) {
  const RunResult r = run_train(tiny_args());
  ASSERT_TRUE(r.exited && r.exit_code == 0) << describe(r);

  std::vector<double> val_losses;
  for (const std::string& line : lines_of(read_file(run_dir_ / "metrics.jsonl"))) {
    const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(j.is_discarded()) << "metrics.jsonl line is not JSON: " << line;
    if (j.contains("val_loss")) val_losses.push_back(j["val_loss"].get<double>());
  }
  ASSERT_GE(val_losses.size(), 2u) << "fewer than two validation passes in metrics.jsonl";
  const double first = val_losses.front(), last = val_losses.back();
  std::cout << "[ tiny     ] val_loss " << first << " (step 0) -> " << last << " (last)" << std::endl;
  EXPECT_LT(last, 6.0) << "did not beat the sample's unigram baseline";
  EXPECT_LT(last, first);
}

}  // namespace
