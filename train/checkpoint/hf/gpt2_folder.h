#pragma once
// GPT-2 in and out of a Hugging Face model folder (config.json, model.safetensors, the tokenizer's
// files): the weights mapped
// onto our parameter table. Hugging Face names our tensors with a "transformer." prefix (the
// original OpenAI upload without it) and stores the four Conv1D matrices (in, out), where we store
// (out, in); its vocabulary has the real tokens only, ours is padded with zero rows.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/model/gpt.h"
#include "core/model/model_config.h"
#include "core/model/param_table.h"
#include "train/checkpoint/hf/gpt2_config.h"
#include "train/checkpoint/hf/safetensors.h"

namespace gpt {

// A Hugging Face GPT-2 folder opened for a model of `config`: DIR/config.json checked against it
// (check_hf_fits), DIR/model.safetensors mapped, and every tensor the model needs found, shaped as
// the two configs say and of a dtype it can read (F32, F16, BF16), before any value is read. The
// names may carry the "transformer." prefix or not (OpenAI's upload); the causal-mask buffers
// some files carry (h.N.attn.bias, h.N.attn.masked_bias) are skipped. Throws ConfigError or
// DataError naming the file and the tensor or key: a missing file, a config.json that does not
// fit, a tensor missing, shaped otherwise or of another dtype.
class HfGpt2Reader {
 public:
  HfGpt2Reader(const std::filesystem::path& dir, const ModelConfig& config);
  ~HfGpt2Reader();

  // Tensor `p` of the model's table in our layout: HF's Conv1D matrices transposed, the
  // vocabulary padded with zero rows to config.vocab_size, wpe cut to block_size when n_positions
  // is longer, lm_head.weight from wte when the folder ties them and the run does not. One at a
  // time, so a model loads with one tensor's copy beside the mapped file. DataError naming the
  // tensor and index for a NaN or inf.
  std::vector<float> tensor(const ParamInfo& p) const;

  const std::vector<std::string>& notes() const { return notes_; }    // what is adapted, for the log
  const std::vector<std::string>& unused() const { return unused_; }  // the file's tensors the model has no place for
  const std::string& dtypes() const { return dtypes_; }               // of the tensors read, e.g. "F16"

 private:
  HfGpt2Config hf_;
  std::unique_ptr<SafetensorsFile> file_;
  std::map<std::string, std::string> source_;  // our name -> the file's
  std::vector<std::string> notes_, unused_;
  std::string dtypes_;
};

// The folder's weights into `model`'s master parameters, tensor by tensor, then its compute
// weights; returns what a user should see: how many tensors came from where, and the notes. What
// HfGpt2Reader refuses is refused before the model changes; a NaN found while loading leaves it
// partly loaded (the callers stop).
std::string load_hf_gpt2(GPT& model, const std::filesystem::path& dir);

// Float32 values of a table tensor in our layout.
using ParamValues = std::function<const float*(const ParamInfo&)>;

// Writes DIR/config.json (hf_gpt2_config_json) and DIR/model.safetensors in `format` with the
// names save_pretrained gives a GPT2LMHeadModel: "transformer."-prefixed, Conv1D matrices (in, out),
// the real vocabulary only, lm_head.weight only when untied. Creates DIR; each file is whole or
// absent (AtomicFile), the folder as a whole is not: `export` writes into a FolderReplacement.
// ConfigError (nothing written) for a model GPT-2 cannot represent, std::runtime_error for an I/O
// failure.
void write_hf_gpt2(const std::filesystem::path& dir, const ModelConfig& config, const ParamValues& values,
                   FloatFormat format, std::int64_t end_of_text);

// GPT-2's tokenizer files in DIR under Hugging Face's names: OpenAI's encoder.json and vocab.bpe
// from `vocabulary_dir` copied as vocab.json and merges.txt, and a tokenizer_config.json
// (<|endoftext|> as bos, eos and unk; model_max_length), so that AutoTokenizer.from_pretrained(DIR)
// needs nothing else. The files are read and written anew (AtomicFile), never copied through
// what DIR holds now. std::runtime_error naming the file on an I/O failure.
void write_hf_gpt2_tokenizer(const std::filesystem::path& dir, const std::filesystem::path& vocabulary_dir,
                             std::int64_t model_max_length);

}  // namespace gpt
