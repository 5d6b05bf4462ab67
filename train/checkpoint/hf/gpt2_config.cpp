#include "train/checkpoint/hf/gpt2_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/errors.h"
#include "core/file_kind.h"

namespace gpt {
namespace {

using nlohmann::json;

class ConfigReader {
 public:
  ConfigReader(const json& j, std::string file) : j_(j), file_(std::move(file)) {}

  // Sizes above 2^32 are refused here: no model of them fits a machine, and the arithmetic on
  // them (a padded vocabulary, n_embd squared) would overflow before the memory check sees them.
  std::int64_t count(const char* key, std::int64_t fallback, std::int64_t min) const {
    constexpr std::int64_t max = std::int64_t{1} << 32;
    if (!j_.contains(key) || j_[key].is_null()) return fallback;
    const json& v = j_[key];
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t{max}) ||
        v.get<std::int64_t>() < min || v.get<std::int64_t>() > max)
      throw fail(key, "is " + v.dump() + ", not an integer from " + std::to_string(min) + " to " + std::to_string(max));
    return v.get<std::int64_t>();
  }
  bool flag(const char* key, bool fallback) const {
    if (!j_.contains(key) || j_[key].is_null()) return fallback;
    if (!j_[key].is_boolean()) throw fail(key, "is " + j_[key].dump() + ", not true or false");
    return j_[key].get<bool>();
  }
  std::string text(const char* key, const std::string& fallback) const {
    if (!j_.contains(key) || j_[key].is_null()) return fallback;
    if (!j_[key].is_string()) throw fail(key, "is " + j_[key].dump() + ", not a string");
    return j_[key].get<std::string>();
  }
  double number(const char* key, double fallback) const {
    if (!j_.contains(key) || j_[key].is_null()) return fallback;
    if (!j_[key].is_number()) throw fail(key, "is " + j_[key].dump() + ", not a number");
    return j_[key].get<double>();
  }
  ConfigError fail(const std::string& key, const std::string& what) const {
    return ConfigError(file_ + ": " + key + " " + what);
  }

 private:
  const json& j_;
  std::string file_;
};

}  // namespace

HfGpt2Config read_hf_gpt2_config(const std::filesystem::path& file) {
  const std::string name = file.string();
  if (!std::filesystem::exists(file))
    throw ConfigError(name + " is missing: a Hugging Face model folder has config.json and model.safetensors");
  if (const std::string problem = not_a_regular_file(file); !problem.empty()) throw ConfigError(name + " " + problem);
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(name + ": cannot be read");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw DataError(name + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw DataError(name + ": not a JSON object");
  const ConfigReader r(j, name);

  if (const std::string type = r.text("model_type", ""); type != "gpt2")
    throw r.fail("model_type", "is \"" + type + "\": only GPT-2 folders (model_type \"gpt2\") can be read");
  // transformers' GPT2Config defaults for keys a file leaves out.
  if (const std::string act = r.text("activation_function", "gelu_new");
      act != "gelu_new" && act != "gelu_pytorch_tanh")
    throw r.fail("activation_function",
                 "is \"" + act + "\": this trainer's GELU is the tanh form (\"gelu_new\", \"gelu_pytorch_tanh\")");
  if (const double eps = r.number("layer_norm_epsilon", 1e-5); eps != 1e-5)
    throw r.fail("layer_norm_epsilon", "is " + j["layer_norm_epsilon"].dump() + ": this trainer's LayerNorm uses 1e-5");
  if (!r.flag("scale_attn_weights", true))
    throw r.fail("scale_attn_weights", "is false: this trainer scales attention scores by 1/sqrt(head size)");
  if (r.flag("scale_attn_by_inverse_layer_idx", false))
    throw r.fail("scale_attn_by_inverse_layer_idx", "is true: this trainer does not scale attention by layer");
  if (r.flag("add_cross_attention", false))
    throw r.fail("add_cross_attention", "is true: this trainer's GPT-2 has no cross-attention");

  HfGpt2Config c;
  c.vocab_size = r.count("vocab_size", c.vocab_size, 1);
  c.n_positions = r.count("n_positions", c.n_positions, 1);
  c.n_embd = r.count("n_embd", c.n_embd, 1);
  c.n_layer = r.count("n_layer", c.n_layer, 1);
  c.n_head = r.count("n_head", c.n_head, 1);
  c.n_inner = r.count("n_inner", 0, 1);
  c.tie_word_embeddings = r.flag("tie_word_embeddings", true);
  if (c.n_embd % c.n_head != 0)
    throw r.fail("n_head", "is " + std::to_string(c.n_head) + ", which does not divide n_embd (" +
                               std::to_string(c.n_embd) + ")");
  return c;
}

ModelConfig model_config_of(const HfGpt2Config& hf) {
  ModelConfig m;
  m.real_vocab_size = hf.vocab_size;
  m.vocab_size = (hf.vocab_size + 63) / 64 * 64;
  m.block_size = hf.n_positions;
  m.n_layer = hf.n_layer;
  m.n_head = hf.n_head;
  m.n_embd = hf.n_embd;
  m.mlp_hidden = hf.hidden();
  m.dropout = 0;
  m.bias = true;
  m.activation = Activation::gelu;
  m.tie_embeddings = hf.tie_word_embeddings;
  m.validate();
  return m;
}

std::vector<std::string> gpt2_departures(const ModelConfig& model) {
  std::vector<std::string> found;
  if (model.activation != Activation::gelu)
    found.push_back(std::string("model.activation = \"") +
                    (model.activation == Activation::swiglu ? "swiglu" : "relu2") + "\" (GPT-2 has a GELU MLP)");
  if (!model.bias) found.push_back("model.bias = false (GPT-2 has biases)");
  if (model.positions != Positions::learned)
    found.push_back("model.positions = \"rope\" (GPT-2 has a learned position table)");
  if (model.norm != NormKind::layernorm) found.push_back("model.norm = \"rmsnorm\" (GPT-2 has LayerNorm)");
  if (model.qk_norm) found.push_back("model.qk_norm = true (GPT-2 has no QK-norm)");
  if (model.logit_softcap > 0) found.push_back("model.logit_softcap > 0 (GPT-2 has no soft-cap)");
  return found;
}

void check_hf_fits(const HfGpt2Config& hf, const ModelConfig& model, const std::filesystem::path& file) {
  std::vector<std::string> problems = gpt2_departures(model);
  auto differ = [&](const char* key, std::int64_t theirs, const char* ours_key, std::int64_t ours) {
    if (theirs != ours)
      problems.push_back(std::string(key) + " is " + std::to_string(theirs) + ", the run's " + ours_key + " is " +
                         std::to_string(ours));
  };
  differ("n_layer", hf.n_layer, "model.n_layer", model.n_layer);
  differ("n_head", hf.n_head, "model.n_head", model.n_head);
  differ("n_embd", hf.n_embd, "model.n_embd", model.n_embd);
  differ("vocab_size", hf.vocab_size, "model.real_vocab_size", model.real_vocab_size);
  differ(hf.n_inner > 0 ? "n_inner" : "n_inner (null: 4·n_embd)", hf.hidden(), "MLP width (model.mlp_hidden)",
         model.hidden());
  if (hf.n_positions < model.block_size)
    problems.push_back("n_positions is " + std::to_string(hf.n_positions) + ", less than the run's model.block_size (" +
                       std::to_string(model.block_size) + ")");
  if (!hf.tie_word_embeddings && model.tie_embeddings)
    problems.push_back("tie_word_embeddings is false (its own lm_head.weight), the run's model.tie_embeddings is true");
  if (problems.empty()) return;
  std::string message = file.string() + " does not fit the run's model: ";
  for (std::size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
  throw ConfigError(message);
}

std::string hf_gpt2_config_json(const ModelConfig& model, FloatFormat format, std::int64_t end_of_text) {
  if (const std::vector<std::string> departures = gpt2_departures(model); !departures.empty()) {
    std::string message =
        "Hugging Face's GPT2LMHeadModel cannot represent this model, so it cannot be exported as GPT-2: ";
    for (std::size_t i = 0; i < departures.size(); ++i) message += (i ? "; " : "") + departures[i];
    throw ConfigError(message);
  }
  const char* dtype = format == FloatFormat::f32 ? "float32" : format == FloatFormat::f16 ? "float16" : "bfloat16";
  nlohmann::ordered_json j;
  j["architectures"] = {"GPT2LMHeadModel"};
  j["model_type"] = "gpt2";
  j["vocab_size"] = model.real_vocab_size;
  j["n_positions"] = model.block_size;
  j["n_embd"] = model.n_embd;
  j["n_layer"] = model.n_layer;
  j["n_head"] = model.n_head;
  j["n_inner"] =
      model.hidden() == 4 * model.n_embd ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(model.hidden());
  j["activation_function"] = "gelu_new";
  j["layer_norm_epsilon"] = 1e-5;
  j["resid_pdrop"] = model.dropout;
  j["embd_pdrop"] = model.dropout;
  j["attn_pdrop"] = model.dropout;
  j["initializer_range"] = 0.02;
  j["scale_attn_weights"] = true;
  j["scale_attn_by_inverse_layer_idx"] = false;
  j["reorder_and_upcast_attn"] = false;
  j["tie_word_embeddings"] = model.tie_embeddings;
  j["bos_token_id"] = end_of_text;
  j["eos_token_id"] = end_of_text;
  j["use_cache"] = true;
  j["torch_dtype"] = dtype;
  return j.dump(2) + "\n";
}

}  // namespace gpt
