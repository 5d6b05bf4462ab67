// `export --checkpoint RUN/checkpoints/step_N.h5 | --run-dir RUN  --hf-out DIR [--dtype float32|float16|bfloat16]`:
// a trained model as a Hugging Face GPT-2 folder (config.json, model.safetensors, vocab.json,
// merges.txt, tokenizer_config.json) that GPT2LMHeadModel.from_pretrained(DIR) and
// AutoTokenizer.from_pretrained(DIR) load with nothing else.
// An existing DIR is replaced as a whole (core/files/replace_folder.h): a reader or a crash sees the old
// folder or the new one; files export does not write are kept.
// Exit codes: 0 done, 2 bad input (command line, checkpoint, a model GPT-2 cannot represent, a
// --hf-out that is not a folder), 1 internal or I/O failure (a full disk).
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>

#include "core/errors.h"
#include "core/files/replace_folder.h"
#include "data/tokenizer/default_vocabulary.h"
#include "data/tokenizer/tokenizer.h"
#include "launch/exit_codes.h"
#include "train/checkpoint/checkpoint_folder.h"
#include "train/checkpoint/hf/gpt2_folder.h"
#include "train/checkpoint/model_checkpoint.h"
#include "train/run_config.h"

namespace {

struct Options {
  std::string checkpoint, run_dir, hf_out, dtype = "float32", vocab_dir;
};

// export replaces the whole folder: only a new or empty one, or a Hugging Face model folder (one
// with a config.json, as an earlier export wrote), so that `--hf-out .` or a home folder is never
// swapped for a copy of itself.
void check_replaceable(const std::filesystem::path& out) {
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::weakly_canonical(out, ec);
  if (ec) throw gpt::ConfigError("--hf-out " + out.string() + ": " + ec.message());
  if (!std::filesystem::is_directory(dir, ec) || std::filesystem::is_empty(dir, ec)) return;
  if (std::filesystem::exists(dir / "config.json", ec)) return;
  throw gpt::ConfigError("--hf-out " + out.string() +
                         " is a folder with files but no config.json, not a Hugging Face model folder; export "
                         "replaces the whole folder: give a new or empty folder, or one an earlier export wrote");
}

int run(const Options& o) {
  static const std::map<std::string, gpt::FloatFormat> formats = {
      {"float32", gpt::FloatFormat::f32}, {"float16", gpt::FloatFormat::f16}, {"bfloat16", gpt::FloatFormat::bf16}};
  const gpt::CheckpointFile file = gpt::open_file_or_newest(o.checkpoint, o.run_dir, std::cerr);
  gpt::check_checkpoint_format(file);
  const gpt::ModelConfig config =
      gpt::parse_run_config(file.attr_string("/", "config"), file.path().string() + " (its config)", ".", {}).model;
  const gpt::Tokenizer tokenizer = gpt::Tokenizer::load(o.vocab_dir);
  if (config.real_vocab_size != static_cast<std::int64_t>(tokenizer.vocabulary().size()))
    throw gpt::ConfigError("checkpoint " + file.path().string() + ": its model has " +
                           std::to_string(config.real_vocab_size) + " token ids (model.real_vocab_size), the GPT-2 " +
                           "tokenizer in " + o.vocab_dir + " " + std::to_string(tokenizer.vocabulary().size()));

  const gpt::ParamTable table(config);
  for (const gpt::ParamInfo& p : table.entries()) (void)gpt::checked_tensor(file, "params/" + p.name, p.shape);
  const std::filesystem::path out = o.hf_out;
  const auto end_of_text = static_cast<std::int64_t>(tokenizer.end_of_text());
  (void)gpt::hf_gpt2_config_json(config, formats.at(o.dtype), end_of_text);  // refuses before anything is created

  // Written beside the folder, then swapped in whole: a crash or a full disk leaves the old folder.
  check_replaceable(out);
  gpt::FolderReplacement replacement(out);
  try {
    gpt::write_hf_gpt2(
        replacement.staging(), config, [&](const gpt::ParamInfo& p) { return file.values("params/" + p.name).data(); },
        formats.at(o.dtype), end_of_text);
    gpt::write_hf_gpt2_tokenizer(replacement.staging(), o.vocab_dir, config.block_size);
  } catch (const gpt::InputError&) {
    throw;
  } catch (const std::filesystem::filesystem_error&) {
    throw;
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(e.what() + (" (" + out.string() + " is left as it was)"));
  }
  replacement.commit();
  std::cout << "export: " << file.path().string() << " (step " << file.attr_int("/", "step") << ", "
            << table.parameter_count() << " parameters) -> " << out.string() << " (GPT2LMHeadModel, " << o.dtype
            << "): config.json, model.safetensors, vocab.json, merges.txt, tokenizer_config.json" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(
      "Writes a trained checkpoint as a Hugging Face GPT-2 folder (config.json, model.safetensors and the "
      "tokenizer's files) that transformers loads with from_pretrained.");
  Options o;
  o.vocab_dir = gpt::default_vocabulary_dir().string();
  auto* checkpoint = app.add_option("--checkpoint", o.checkpoint, "the checkpoint file (RUN/checkpoints/step_N.h5)");
  auto* run_dir = app.add_option("--run-dir", o.run_dir, "a run's folder: its newest valid checkpoint");
  checkpoint->excludes(run_dir);
  app.add_option("--hf-out", o.hf_out,
                 "the folder to write: created, or replaced as a whole (its other files are kept); a crash "
                 "leaves the old one")
      ->required()
      ->check([](const std::string& path) { return path.empty() ? std::string("an empty path is no folder") : ""; });
  app.add_option("--dtype", o.dtype, "the weights' type in model.safetensors (default float32)")
      ->check(CLI::IsMember({"float32", "float16", "bfloat16"}));
  app.add_option("--vocab-dir", o.vocab_dir, "folder with GPT-2's encoder.json and vocab.bpe");
  try {
    app.parse(argc, argv);
    if (!*checkpoint && !*run_dir) throw CLI::RequiredError("--checkpoint or --run-dir");
  } catch (const CLI::ParseError& e) {
    return gpt::command_line_exit(app, e, "export");
  }
  return gpt::exit_code_of([&] { return run(o); });
}
