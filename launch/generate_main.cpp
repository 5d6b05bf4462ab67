// `generate --checkpoint RUN/checkpoints/step_N.h5 | --run-dir RUN | --hf DIR  --prompt TEXT | --prompt-file F
//           [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
//           [--num-samples M] [--beam-width W] [--length-penalty A] [--backend cpu|cuda|auto]`:
// text from a trained model (ours, or a Hugging Face GPT-2 folder). The prompt is encoded with the
// GPT-2 tokenizer, the model continues it with its KV cache, and the text streams to stdout as it
// comes; statistics go to stderr.
// Exit codes: 0 done, 2 bad input (command line, checkpoint, prompt), 1 internal failure.
#include <omp.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/cpu_count.h"
#include "core/errors.h"
#include "core/generate/generator.h"
#include "core/ops/cpu/host_memory.h"
#include "core/ops/make_backend.h"
#include "data/tokenizer/default_vocabulary.h"
#include "data/tokenizer/streaming_decoder.h"
#include "data/tokenizer/tokenizer.h"
#include "launch/exit_codes.h"
#include "train/checkpoint/checkpoint_folder.h"
#include "train/checkpoint/hf/gpt2_config.h"
#include "train/checkpoint/hf/gpt2_folder.h"
#include "train/checkpoint/model_checkpoint.h"
#include "train/memory_check.h"
#include "train/run_config.h"

namespace {

struct Options {
  std::string checkpoint, run_dir, hf_dir, prompt, prompt_file, backend = "auto", precision = "auto", vocab_dir,
                                                                seed_text = "1337";
  bool prompt_given = false, show_beams = false;
  int threads = 0;
  std::int64_t num_samples = 1;
  gpt::GenerationOptions generation;
  gpt::SamplingOptions sampling{.temperature = 0.8, .top_k = 200, .top_p = 1.0};
  gpt::BeamOptions beam;
};

// The model to generate from: its shape, what to call it in the log, where its shape is set (for a
// refusal), and how to fill its weights.
struct ModelSource {
  gpt::ModelConfig config;
  std::string description;
  std::string shape_source;
  std::function<void(gpt::GPT&)> load;
};

std::string model_shape(const gpt::ModelConfig& m, const char* prefix, const char* positions, const char* vocab) {
  return std::string(prefix) + "n_layer " + std::to_string(m.n_layer) + ", " + prefix + "n_head " +
         std::to_string(m.n_head) + ", " + prefix + "n_embd " + std::to_string(m.n_embd) + ", " + positions + " " +
         std::to_string(m.block_size) + ", " + vocab + " " + std::to_string(m.real_vocab_size);
}

// --seed as written: a whole number from 0 to 2^64 - 1 (CLI11 would take -1 as 2^64 - 1).
std::uint64_t parse_seed(const std::string& text) {
  const std::string range = "--seed must be a whole number from 0 to 18446744073709551615, not '" + text + "'";
  if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos)
    throw gpt::ConfigError(range);
  errno = 0;
  const unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE) throw gpt::ConfigError(range);
  return value;
}

// --hf DIR, --checkpoint, or the newest checkpoint of --run-dir that verifies.
ModelSource model_source(const Options& o) {
  if (!o.hf_dir.empty()) {
    const std::filesystem::path dir = o.hf_dir;
    const gpt::ModelConfig config = gpt::model_config_of(gpt::read_hf_gpt2_config(dir / "config.json"));
    return {config, o.hf_dir + " (Hugging Face GPT-2)",
            model_shape(config, "", "n_positions", "vocab_size") + " in " + (dir / "config.json").string(),
            [dir](gpt::GPT& model) { (void)gpt::load_hf_gpt2(model, dir); }};
  }
  auto file = std::make_shared<const gpt::CheckpointFile>(gpt::open_file_or_newest(o.checkpoint, o.run_dir, std::cerr));
  gpt::check_checkpoint_format(*file);
  const gpt::ModelConfig config =
      gpt::parse_run_config(file->attr_string("/", "config"), file->path().string() + " (its config)", ".", {}).model;
  return {config, file->path().string() + " (step " + std::to_string(file->attr_int("/", "step")) + ")",
          model_shape(config, "model.", "model.block_size", "model.real_vocab_size") + " in " + file->path().string() +
              "'s config",
          [file](gpt::GPT& model) { gpt::load_model_parameters(model, *file); }};
}

// --prompt-file: a file, or a pipe or terminal to read to its end (--prompt-file /dev/stdin).
std::string prompt_text(const Options& o) {
  if (o.prompt_file.empty()) return o.prompt;
  struct stat info {};
  if (::stat(o.prompt_file.c_str(), &info) != 0)
    throw gpt::ConfigError("--prompt-file " + o.prompt_file + ": " + std::strerror(errno));
  if (S_ISDIR(info.st_mode)) throw gpt::ConfigError("--prompt-file " + o.prompt_file + " is a folder, not a file");
  std::ifstream in(o.prompt_file, std::ios::binary);
  if (!in) throw gpt::ConfigError("--prompt-file " + o.prompt_file + ": cannot be read");
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw gpt::ConfigError("--prompt-file " + o.prompt_file + ": cannot be read to its end");
  return text;
}

std::string decode(const gpt::Tokenizer& tokenizer, const std::vector<std::int32_t>& tokens) {
  return tokenizer.decode(std::vector<gpt::TokenId>(tokens.begin(), tokens.end()));
}

void write(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

int run(const Options& o) {
  const std::uint64_t seed = parse_seed(o.seed_text);
  o.sampling.validate();
  if (o.beam.width < 1) throw gpt::ConfigError("--beam-width must be at least 1, not " + std::to_string(o.beam.width));
  if (o.beam.width > 1 && o.num_samples > 1)
    throw gpt::ConfigError("--num-samples and --beam-width exclude each other: beam search returns its best beams");
  const std::string text = prompt_text(o);
  if (text.empty()) throw gpt::ConfigError(o.prompt_file.empty() ? "--prompt is empty" : "--prompt-file is empty");

  gpt::Tokenizer tokenizer = gpt::Tokenizer::load(o.vocab_dir);
  const std::vector<gpt::TokenId> ids = tokenizer.encode(text, gpt::SpecialTokens::allowed);
  const std::vector<std::int32_t> prompt(ids.begin(), ids.end());  // the model's ids are int32

  const ModelSource source = model_source(o);
  const gpt::ModelConfig& config = source.config;
  const auto vocabulary = static_cast<std::int64_t>(tokenizer.vocabulary().size());
  if (config.real_vocab_size != vocabulary)
    throw gpt::ConfigError(source.description + ": its model has " + std::to_string(config.real_vocab_size) +
                           " token ids (model.real_vocab_size), the GPT-2 " + "tokenizer in " + o.vocab_dir + " " +
                           std::to_string(vocabulary));
  const int threads = gpt::cpu::choose_threads(o.threads, std::getenv("OMP_NUM_THREADS"), omp_get_max_threads());
  const bool cuda = gpt::resolve_backend_name(o.backend) == "cuda";
  const std::string precision = o.precision != "auto" ? o.precision : cuda ? "bf16" : "fp32";
  const std::unique_ptr<gpt::Backend> backend =
      gpt::make_backend(o.backend, precision, threads, 0, {.backend = "--backend", .precision = "--precision"});
  // Before anything is allocated: a batch or a model beyond this machine is refused now, not met
  // by the OOM killer.
  const bool beams = o.beam.width > 1;
  gpt::check_generation_memory(
      config, *backend,
      {.rows = static_cast<long double>(beams ? o.beam.width : o.num_samples),
       .prompt_tokens = static_cast<long double>(prompt.size()),
       .max_new_tokens = static_cast<long double>(o.generation.max_new_tokens),
       .beams = beams},
      backend->available_memory(), gpt::cpu::available_host_memory(),
      {.rows_flag = beams ? "--beam-width" : "--num-samples", .model_source = source.shape_source});
  gpt::GPT model(config, *backend);
  source.load(model);

  gpt::GenerationOptions generation = o.generation;
  generation.end_token = static_cast<std::int32_t>(tokenizer.end_of_text());
  gpt::Generator generator(model, generation);
  std::cerr << "generate: " << source.description << ", " << backend->name() << ", prompt of " << prompt.size()
            << " tokens\n";
  std::int64_t sequences = 1;
  if (o.beam.width > 1) {
    const std::vector<gpt::Hypothesis> best = generator.beam_search(prompt, o.beam);
    sequences = o.beam.width;
    for (std::size_t i = 0; i < (o.show_beams ? best.size() : 1); ++i) {
      if (o.show_beams) {
        std::ostringstream head;
        head << "--- beam " << i + 1 << ": score " << best[i].score << ", log-prob " << best[i].log_prob << ", "
             << best[i].tokens.size() << " tokens" << (best[i].finished ? ", ended" : "") << " ---\n";
        write(head.str());
      }
      write(text + decode(tokenizer, best[i].tokens) + "\n");
    }
  } else if (o.num_samples == 1) {
    write(text);
    gpt::StreamingDecoder decoder(tokenizer);
    generator.sample(prompt, o.sampling, seed, 1,
                     [&](std::int64_t, std::int32_t token) { write(decoder.push(static_cast<gpt::TokenId>(token))); });
    write(decoder.finish() + "\n");
  } else {
    // One batch: every sample is done at the same step, so each is printed whole.
    sequences = o.num_samples;
    const auto samples = generator.sample(prompt, o.sampling, seed, o.num_samples);
    for (std::size_t i = 0; i < samples.size(); ++i)
      write("--- sample " + std::to_string(i + 1) + " ---\n" + text + decode(tokenizer, samples[i]) + "\n");
  }

  const gpt::GenerationStats& s = generator.stats();
  const double ms_per_token = s.steps > 0 ? 1e3 * s.decode_seconds / static_cast<double>(s.steps) : 0;
  std::fprintf(stderr,
               "generate: %lld prompt tokens, %lld new tokens x %lld sequence(s); prefill %.1f ms, %.2f ms/token, "
               "%.1f tokens/s%s\n",
               static_cast<long long>(s.prompt_tokens), static_cast<long long>(s.generated_tokens),
               static_cast<long long>(sequences), 1e3 * s.prefill_seconds, ms_per_token,
               s.decode_seconds > 0 ? static_cast<double>(s.steps * sequences) / s.decode_seconds : 0.0,
               s.window_slides ? (", " + std::to_string(s.window_slides) + " window slide(s)").c_str() : "");
  return 0;
}

// Bounds that keep every count's arithmetic far from overflow; the memory check refuses far less.
constexpr std::int64_t kMostNewTokens = 1'000'000'000'000, kMostRows = 1 << 30;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(
      "Generates text from a trained checkpoint: the GPT-2 tokenizer, the model's KV cache, sampling "
      "(temperature, top-k, top-p) or beam search.");
  Options o;
  o.vocab_dir = gpt::default_vocabulary_dir().string();
  auto* checkpoint = app.add_option("--checkpoint", o.checkpoint, "the checkpoint file (RUN/checkpoints/step_N.h5)");
  auto* run_dir = app.add_option("--run-dir", o.run_dir, "a run's folder: its newest valid checkpoint");
  auto* hf = app.add_option("--hf", o.hf_dir, "a Hugging Face GPT-2 folder (config.json, model.safetensors)");
  checkpoint->excludes(run_dir);
  hf->excludes(checkpoint)->excludes(run_dir);
  auto* prompt = app.add_option("--prompt", o.prompt, "the text to continue");
  auto* prompt_file = app.add_option("--prompt-file", o.prompt_file, "a file whose text to continue");
  prompt->excludes(prompt_file);
  app.add_option("--max-new-tokens", o.generation.max_new_tokens, "tokens to generate at most (default 256)")
      ->check(CLI::Range(std::int64_t{1}, kMostNewTokens));
  app.add_option("--temperature", o.sampling.temperature, "softmax temperature; 0 is greedy (default 0.8)");
  app.add_option("--top-k", o.sampling.top_k, "keep the k most likely tokens; 0 keeps all (default 200)")
      ->check(CLI::Range(std::int64_t{0}, std::numeric_limits<std::int64_t>::max()));
  app.add_option("--top-p", o.sampling.top_p, "nucleus: the smallest set reaching this probability (default 1)");
  app.add_option("--seed", o.seed_text, "seed of the sampling, 0 to 2^64 - 1 (default 1337)");
  app.add_option("--num-samples", o.num_samples, "samples of the prompt, generated as one batch (default 1)")
      ->check(CLI::Range(std::int64_t{1}, kMostRows));
  app.add_option("--beam-width", o.beam.width, "beam search with this many beams; 1 samples (default 1)")
      ->check(CLI::Range(std::int64_t{1}, kMostRows));
  app.add_option("--length-penalty", o.beam.length_penalty,
                 "beam scores are log-prob / length^A (default 1; 0 ranks by log-prob alone)");
  app.add_flag("--show-beams", o.show_beams, "print every beam with its score, not only the best");
  app.add_option("--slide", o.generation.slide,
                 "positions dropped when the context fills (default block_size / 4; 1 keeps the most)")
      ->check(CLI::Range(std::int64_t{0}, std::numeric_limits<std::int64_t>::max()));
  app.add_option("--backend", o.backend, "cpu, cuda or auto (CUDA when a GPU is present)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  app.add_option(
         "--precision", o.precision,
         "activations: bf16 (the CUDA default; on the CPU with AMX-BF16 or AVX512-BF16) or fp32 (the CPU default)")
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
  app.add_option("--threads", o.threads, "CPU threads (default: every CPU this process may use)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--vocab-dir", o.vocab_dir, "folder with GPT-2's encoder.json and vocab.bpe");
  try {
    app.parse(argc, argv);
    if (!*checkpoint && !*run_dir && !*hf) throw CLI::RequiredError("--checkpoint, --run-dir or --hf");
    if (!*prompt && !*prompt_file) throw CLI::RequiredError("--prompt or --prompt-file");
  } catch (const CLI::ParseError& e) {
    return gpt::command_line_exit(app, e, "generate");
  }
  return gpt::exit_code_of([&] { return run(o); });
}
