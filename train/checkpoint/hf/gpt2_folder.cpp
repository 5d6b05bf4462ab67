#include "train/checkpoint/hf/gpt2_folder.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "core/errors.h"
#include "core/files/atomic_file.h"
#include "train/checkpoint/hf/gpt2_config.h"

namespace gpt {
namespace {

const std::string kPrefix = "transformer.";

// The four linear layers Hugging Face's GPT-2 builds from Conv1D, whose weight is (in, out).
bool is_conv1d(const std::string& name) {
  for (const char* suffix : {".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight"})
    if (name.ends_with(suffix)) return true;
  return false;
}

// The causal mask older transformers saved with the weights: a buffer, not a parameter.
bool is_mask_buffer(const std::string& name) {
  static const std::regex mask(R"(h\.[0-9]+\.attn\.(bias|masked_bias))");
  return std::regex_match(name, mask);
}

// dst (cols, rows) = src (rows, cols) transposed: Conv1D's (in, out) to our (out, in) and back.
void transpose(const float* src, std::size_t rows, std::size_t cols, float* dst) {
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
}

// The shape the file must give our tensor `p`.
std::vector<std::int64_t> file_shape(const ParamInfo& p, const HfGpt2Config& hf) {
  if (is_conv1d(p.name)) return {p.shape[1], p.shape[0]};
  if (p.name == "wte.weight" || p.name == "lm_head.weight") return {hf.vocab_size, p.shape[1]};
  if (p.name == "wpe.weight") return {hf.n_positions, p.shape[1]};
  return p.shape;
}

}  // namespace

HfGpt2Reader::HfGpt2Reader(const std::filesystem::path& dir, const ModelConfig& config) {
  if (!std::filesystem::is_directory(dir))
    throw ConfigError(dir.string() +
                      ": not a folder (a Hugging Face model folder holds config.json and model.safetensors)");
  const std::filesystem::path config_file = dir / "config.json", weights_file = dir / "model.safetensors";
  hf_ = read_hf_gpt2_config(config_file);
  check_hf_fits(hf_, config, config_file);
  if (!std::filesystem::exists(weights_file)) {
    std::string hint;
    if (std::filesystem::exists(dir / "model.safetensors.index.json"))
      hint = " (the folder has sharded weights, model.safetensors.index.json, which this trainer does not read)";
    else if (std::filesystem::exists(dir / "pytorch_model.bin"))
      hint =
          " (the folder has only pytorch_model.bin, a pickle, which this trainer does not read: save the model "
          "again with save_pretrained(..., safe_serialization=True))";
    throw ConfigError(weights_file.string() + " is missing" + hint);
  }
  file_ = std::make_unique<SafetensorsFile>(weights_file);
  const std::string where = weights_file.string();

  // Our name -> the file's name, for every tensor of the file that is one of ours.
  const ParamTable table(config);
  std::map<std::string, std::string> found;
  for (const auto& [name, entry] : file_->tensors()) {
    const std::string ours = name.starts_with(kPrefix) ? name.substr(kPrefix.size()) : name;
    if (is_mask_buffer(ours)) continue;
    if (!table.find(ours) && ours != "lm_head.weight") {
      unused_.push_back(name);
      continue;
    }
    if (const auto it = found.find(ours); it != found.end())
      throw DataError(where + ": tensors " + it->second + " and " + name + " are the same parameter");
    found.emplace(ours, name);
  }
  if (found.contains("lm_head.weight") && !table.find("lm_head.weight") && !hf_.tie_word_embeddings)
    throw ConfigError(where + ": lm_head.weight is separate (tie_word_embeddings false), the run's model ties it");

  // Every tensor the model needs: there, shaped as config.json and the run say, of a float dtype.
  std::set<std::string> dtypes;
  for (const ParamInfo& p : table.entries()) {
    std::string ours = p.name;
    if (p.name == "lm_head.weight" && hf_.tie_word_embeddings) {
      ours = "wte.weight";
      notes_.push_back("lm_head.weight copied from wte.weight (the folder ties them, the run's model does not)");
    }
    const auto it = found.find(ours);
    if (it == found.end())
      throw DataError(where + ": no tensor " + kPrefix + ours + " (or " + ours + "), which the model needs");
    const SafetensorsFile::Entry& entry = file_->tensors().at(it->second);
    const std::vector<std::int64_t> want = file_shape(p, hf_);
    if (entry.shape != want)
      throw DataError(where + ": tensor " + it->second + " has shape " + shape_text(entry.shape) + ", but " +
                      config_file.filename().string() + " and the run's model need " + shape_text(want) +
                      (is_conv1d(p.name) ? " (Conv1D weights are stored (in, out))" : ""));
    if (entry.dtype != "F32" && entry.dtype != "F16" && entry.dtype != "BF16")
      throw DataError(where + ": tensor " + it->second + " is " + entry.dtype +
                      "; weights are read from F32, F16 or BF16 tensors");
    dtypes.insert(entry.dtype);
    source_.emplace(p.name, it->second);
  }
  if (hf_.n_positions > config.block_size)
    notes_.push_back("wpe.weight: the first " + std::to_string(config.block_size) + " of its " +
                     std::to_string(hf_.n_positions) + " positions (model.block_size)");
  if (config.vocab_size > hf_.vocab_size)
    notes_.push_back("wte.weight: " + std::to_string(hf_.vocab_size) + " token rows, padded with zero rows to " +
                     std::to_string(config.vocab_size) + " (model.vocab_size)");
  for (const std::string& d : dtypes) dtypes_ += (dtypes_.empty() ? "" : ", ") + d;
}

HfGpt2Reader::~HfGpt2Reader() = default;

std::vector<float> HfGpt2Reader::tensor(const ParamInfo& p) const {
  const std::string& name = source_.at(p.name);
  const std::vector<float> v = file_->read_float32(name);
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw DataError(file_->path().string() + ": tensor " + name + " holds " + std::to_string(v[i]) + " at index " +
                      std::to_string(i));
  std::vector<float> ours(static_cast<std::size_t>(p.numel), 0.0f);  // padding rows stay 0
  if (is_conv1d(p.name)) {
    transpose(v.data(), static_cast<std::size_t>(p.shape[1]), static_cast<std::size_t>(p.shape[0]), ours.data());
  } else {
    std::copy_n(v.begin(), std::min(v.size(), ours.size()), ours.begin());  // wpe: its first rows
  }
  return ours;
}

std::string load_hf_gpt2(GPT& model, const std::filesystem::path& dir) {
  const HfGpt2Reader reader(dir, model.config());
  for (const ParamInfo& p : model.table().entries()) model.backend().upload(model.param(p), reader.tensor(p).data());
  model.refresh_weights();
  std::string report = "init-from: " + std::to_string(model.table().entries().size()) +
                       " parameter tensors from the Hugging Face GPT-2 folder " + dir.string() + " (" +
                       reader.dtypes() + "); optimizer state fresh, step 0";
  for (const std::string& note : reader.notes()) report += "\ninit-from: " + note;
  if (!reader.unused().empty()) {
    report += "\ninit-from: not used (this model has no such parameter):";
    for (std::size_t i = 0; i < reader.unused().size(); ++i) report += (i ? ", " : " ") + reader.unused()[i];
  }
  return report;
}

void write_hf_gpt2(const std::filesystem::path& dir, const ModelConfig& config, const ParamValues& values,
                   FloatFormat format, std::int64_t end_of_text) {
  const std::string config_json = hf_gpt2_config_json(config, format, end_of_text);  // refuses before writing
  std::filesystem::create_directories(dir);
  const ParamTable table(config);
  std::vector<SafetensorsTensor> tensors;
  std::vector<std::vector<float>> transposed;  // the Conv1D matrices in HF's (in, out)
  transposed.reserve(table.entries().size());
  for (const ParamInfo& p : table.entries()) {
    const float* data = values(p);
    const std::string name = p.name == "lm_head.weight" ? p.name : kPrefix + p.name;
    if (is_conv1d(p.name)) {
      std::vector<float>& t = transposed.emplace_back(static_cast<std::size_t>(p.numel));
      transpose(data, static_cast<std::size_t>(p.shape[0]), static_cast<std::size_t>(p.shape[1]), t.data());
      tensors.push_back({name, {p.shape[1], p.shape[0]}, t.data()});
    } else if (p.name == "wte.weight" || p.name == "lm_head.weight") {
      tensors.push_back({name, {config.real_vocab_size, p.shape[1]}, data});  // the real rows come first
    } else {
      tensors.push_back({name, p.shape, data});
    }
  }
  write_safetensors(dir / "model.safetensors", tensors, format, {{"format", "pt"}});
  write_file_atomically(dir / "config.json", config_json);
}

void write_hf_gpt2_tokenizer(const std::filesystem::path& dir, const std::filesystem::path& vocabulary_dir,
                             std::int64_t model_max_length) {
  std::filesystem::create_directories(dir);
  // Read and written anew, never copied onto what DIR/vocab.json is now (a link to a user's file).
  copy_file_atomically(vocabulary_dir / "encoder.json", dir / "vocab.json");
  copy_file_atomically(vocabulary_dir / "vocab.bpe", dir / "merges.txt");
  const nlohmann::ordered_json tokenizer = {
      {"tokenizer_class", "GPT2Tokenizer"}, {"model_max_length", model_max_length}, {"bos_token", "<|endoftext|>"},
      {"eos_token", "<|endoftext|>"},       {"unk_token", "<|endoftext|>"},         {"add_prefix_space", false}};
  write_file_atomically(dir / "tokenizer_config.json", tokenizer.dump(2) + "\n");
}

}  // namespace gpt
