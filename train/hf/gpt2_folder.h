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
#include <string>
#include <vector>

#include "core/model/gpt.h"
#include "core/model/model_config.h"
#include "core/model/param_table.h"
#include "train/hf/safetensors.h"

namespace gpt {

struct HfGpt2Weights {
  std::map<std::string, std::vector<float>> values;  // every tensor of the table, by our name, in our layout
  std::vector<std::string> notes;                    // what was adapted: "wpe.weight: the first 128 of 1024 rows"
  std::vector<std::string> unused;                   // tensors of the file the model has no place for
  std::string dtypes;                                // the file's dtypes, e.g. "F16"
};

// Reads DIR/config.json and DIR/model.safetensors for a model of `config`: HF's Conv1D matrices
// transposed, the vocabulary padded with zero rows to config.vocab_size, wpe cut to block_size
// when n_positions is longer, lm_head.weight copied from wte when the folder ties them and the run
// does not. The causal-mask buffers some files carry (h.N.attn.bias, h.N.attn.masked_bias) are
// skipped. Throws ConfigError or DataError naming the file and the tensor or key: a missing file,
// a config.json that does not fit (check_hf_fits), a tensor missing, shaped otherwise, of a dtype
// other than F32/F16/BF16, or holding a NaN or inf.
HfGpt2Weights read_hf_gpt2(const std::filesystem::path& dir, const ModelConfig& config);

// read_hf_gpt2 into `model`'s master parameters (then its compute weights); returns what a user
// should see: how many tensors came from where, and the notes. The model is unchanged on a throw.
std::string load_hf_gpt2(GPT& model, const std::filesystem::path& dir);

// Float32 values of a table tensor in our layout.
using ParamValues = std::function<const float*(const ParamInfo&)>;

// Writes DIR/config.json (hf_gpt2_config_json) and DIR/model.safetensors in `format` with the
// names save_pretrained gives a GPT2LMHeadModel: "transformer."-prefixed, Conv1D matrices (in, out),
// the real vocabulary only, lm_head.weight only when untied. Creates DIR; ConfigError (nothing
// written) for a model GPT-2 cannot represent, std::runtime_error for an I/O failure.
void write_hf_gpt2(const std::filesystem::path& dir, const ModelConfig& config, const ParamValues& values,
                   FloatFormat format, std::int64_t end_of_text);

// GPT-2's tokenizer files in DIR under Hugging Face's names: OpenAI's encoder.json and vocab.bpe
// from `vocabulary_dir` copied as vocab.json and merges.txt, and a tokenizer_config.json
// (<|endoftext|> as bos, eos and unk; model_max_length), so that AutoTokenizer.from_pretrained(DIR)
// needs nothing else. std::runtime_error naming the file on an I/O failure.
void write_hf_gpt2_tokenizer(const std::filesystem::path& dir, const std::filesystem::path& vocabulary_dir,
                             std::int64_t model_max_length);

}  // namespace gpt
