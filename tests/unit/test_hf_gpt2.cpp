// Hugging Face GPT-2 folders without transformers: safetensors files written and read back in
// each float format, broken files refused naming the file and the tensor, the weights' mapping
// (names, Conv1D transposes, vocabulary padding, wpe cut, tying) both ways and bitwise, and
// config.json checked against the run's model key by key. transformers itself reads and writes
// these folders in tests/python/check_hf_gpt2.py.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/half_float.h"
#include "core/model/gpt.h"
#include "core/ops/cpu/cpu_backend.h"
#include "tests/support/read_file.h"
#include "tests/support/temp_dir_test.h"
#include "train/checkpoint/hf/gpt2_config.h"
#include "train/checkpoint/hf/gpt2_folder.h"
#include "train/checkpoint/hf/safetensors.h"

namespace gpt {
namespace {

// The message of the exception `f` throws as E; fails the test when it throws nothing or another type.
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception of the expected type";
  return {};
}

#define EXPECT_HAS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

std::vector<float> random_values(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.5f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file made by hand from a header and a data section.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

class SafetensorsTest : public test::TempDirTest {};

TEST_F(SafetensorsTest, WritesAndReadsEveryFloatFormat) {
  const std::vector<float> a = random_values(6, 1), b = random_values(5, 2);
  for (FloatFormat format : {FloatFormat::f32, FloatFormat::f16, FloatFormat::bf16}) {
    const auto path = dir_ / (std::string(safetensors_dtype(format)) + ".safetensors");
    write_safetensors(path, {{"a", {2, 3}, a.data()}, {"b.weight", {5}, b.data()}}, format, {{"format", "pt"}});
    const SafetensorsFile file(path);
    ASSERT_EQ(file.tensors().size(), 2u);
    EXPECT_EQ(file.metadata().at("format"), "pt");
    EXPECT_EQ(file.tensors().at("a").dtype, safetensors_dtype(format));
    EXPECT_EQ(file.tensors().at("a").shape, (std::vector<std::int64_t>{2, 3}));
    EXPECT_EQ(file.tensors().at("b.weight").begin, file.tensors().at("a").end);  // in the order given
    const std::vector<float> read = file.read_float32("a");
    for (std::size_t i = 0; i < a.size(); ++i) {
      const float want = format == FloatFormat::f32   ? a[i]
                         : format == FloatFormat::f16 ? half_bits_to_float(float_to_half_bits(a[i]))
                                                      : bf16_bits_to_float(float_to_bf16_bits(a[i]));
      EXPECT_EQ(read[i], want) << i;
    }
    // The data section starts 8-byte aligned, as the reference implementation writes it.
    const std::string bytes = test::read_file(path);
    std::uint64_t header = 0;
    std::memcpy(&header, bytes.data(), 8);
    EXPECT_EQ(header % 8, 0u);
    EXPECT_EQ(bytes.size(), 8 + header + (a.size() + b.size()) * (format == FloatFormat::f32 ? 4 : 2));
  }
}

TEST_F(SafetensorsTest, ReadsAHandMadeFileAtAnUnalignedOffset) {
  const float values[2] = {1.5f, -2.25f};
  std::string data(1, 'x');  // another tensor's byte first: the floats start unaligned
  data.append(reinterpret_cast<const char*>(values), 8);
  const auto path = dir_ / "hand.safetensors";
  write_bytes(path, safetensors_bytes(R"({"pad":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                      R"("w":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})",
                                      data));
  EXPECT_EQ(SafetensorsFile(path).read_float32("w"), (std::vector<float>{1.5f, -2.25f}));
  EXPECT_HAS(message_of<DataError>([&] { (void)SafetensorsFile(path).read_float32("pad"); }),
             "tensor pad is U8; weights are read from F32, F16 or BF16");
}

TEST_F(SafetensorsTest, BrokenFilesAreRefusedNamingFileAndTensor) {
  const std::string f32x2(8, '\0');
  struct Case {
    const char* name;
    std::string bytes;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"short", "abc", "shorter than the 8-byte header length"},
      {"header_past_end",
       safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f32x2).substr(0, 30),
       "the header length says"},
      {"not_json", safetensors_bytes("{nope", ""), "the header is not valid JSON"},
      {"not_object", safetensors_bytes("[1,2]", ""), "not a JSON object"},
      {"truncated_data",
       safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f32x2.substr(0, 5)),
       "tensor w: data_offsets [0, 8) run past the data's 5 bytes"},
      {"lying_offsets", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}})", f32x2),
       "tensor w: data_offsets [0, 800) run past"},
      {"size_mismatch", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32x2),
       "tensor w: data_offsets [0, 8) hold 8 bytes, but F32 of shape [3] needs 12"},
      {"backwards", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", f32x2),
       "tensor w: data_offsets [8, 0) ends before it begins"},
      {"overlap",
       safetensors_bytes(R"({"v":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                         R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                         f32x2),
       "overlap"},
      {"unknown_dtype", safetensors_bytes(R"({"w":{"dtype":"F24","shape":[2],"data_offsets":[0,8]}})", f32x2),
       "tensor w: unknown dtype F24"},
      {"negative", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f32x2),
       "tensor w: a dimension is -2"},
      {"no_offsets", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2]}})", f32x2),
       "tensor w: its header entry needs dtype, shape and data_offsets"},
  };
  for (const Case& c : cases) {
    const auto path = dir_ / (std::string(c.name) + ".safetensors");
    write_bytes(path, c.bytes);
    const std::string message = message_of<DataError>([&] { SafetensorsFile file(path); });
    EXPECT_HAS(message, path.string()) << c.name;
    EXPECT_HAS(message, c.message) << c.name;
  }
  EXPECT_HAS(message_of<DataError>([&] { SafetensorsFile file(dir_ / "absent.safetensors"); }), "does not exist");
  // A FIFO is refused before open(), which would wait for a writer forever.
  const auto fifo = dir_ / "fifo.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_HAS(message_of<DataError>([&] { SafetensorsFile file(fifo); }), "is not a regular file (a FIFO)");
}

// A GPT-2 of odd sizes with a small vocabulary.
ModelConfig small_gpt2() {
  ModelConfig c;
  c.vocab_size = 128;
  c.real_vocab_size = 101;
  c.block_size = 16;
  c.n_layer = 2;
  c.n_head = 3;
  c.n_embd = 24;
  return c;
}

// Random values for every tensor of a model's table, zero in the vocabulary's padding rows.
std::map<std::string, std::vector<float>> random_params(const ModelConfig& c) {
  std::map<std::string, std::vector<float>> params;
  unsigned seed = 10;
  const ParamTable table(c);
  for (const ParamInfo& p : table.entries()) {
    std::vector<float> v = random_values(static_cast<std::size_t>(p.numel), seed++);
    if (p.name == "wte.weight" || p.name == "lm_head.weight")
      std::fill(v.begin() + c.real_vocab_size * c.n_embd, v.end(), 0.0f);
    params.emplace(p.name, std::move(v));
  }
  return params;
}

void write_folder(const std::filesystem::path& dir, const ModelConfig& c,
                  const std::map<std::string, std::vector<float>>& params, FloatFormat format = FloatFormat::f32) {
  write_hf_gpt2(
      dir, c, [&](const ParamInfo& p) { return params.at(p.name).data(); }, format, 100);
}

// Every tensor of the model's table, as HfGpt2Reader reads them.
std::map<std::string, std::vector<float>> read_all(const HfGpt2Reader& reader, const ModelConfig& c) {
  std::map<std::string, std::vector<float>> values;
  const ParamTable table(c);
  for (const ParamInfo& p : table.entries()) values.emplace(p.name, reader.tensor(p));
  return values;
}

class HfGpt2Test : public test::TempDirTest {};

TEST_F(HfGpt2Test, WritesHuggingFaceNamesAndLayout) {
  const ModelConfig c = small_gpt2();
  const auto params = random_params(c);
  write_folder(dir_ / "hf", c, params);
  const SafetensorsFile file(dir_ / "hf" / "model.safetensors");
  EXPECT_EQ(file.tensors().size(), ParamTable(c).entries().size());
  EXPECT_FALSE(file.tensors().contains("lm_head.weight"));  // tied: save_pretrained leaves it out
  EXPECT_EQ(file.tensors().at("transformer.wte.weight").shape, (std::vector<std::int64_t>{101, 24}));  // real rows
  EXPECT_EQ(file.tensors().at("transformer.wpe.weight").shape, (std::vector<std::int64_t>{16, 24}));
  // Conv1D: (in, out), element [i][o] is our [o][i].
  const auto& entry = file.tensors().at("transformer.h.1.mlp.c_fc.weight");
  ASSERT_EQ(entry.shape, (std::vector<std::int64_t>{24, 96}));
  const std::vector<float> conv = file.read_float32("transformer.h.1.mlp.c_fc.weight");
  const std::vector<float>& ours = params.at("h.1.mlp.c_fc.weight");  // (96, 24)
  for (int i = 0; i < 24; ++i)
    for (int o = 0; o < 96; ++o) ASSERT_EQ(conv[i * 96 + o], ours[o * 24 + i]) << i << " " << o;
  EXPECT_EQ(file.read_float32("transformer.h.0.ln_2.bias"), params.at("h.0.ln_2.bias"));

  const nlohmann::json config = nlohmann::json::parse(test::read_file(dir_ / "hf" / "config.json"));
  EXPECT_EQ(config["architectures"][0], "GPT2LMHeadModel");
  EXPECT_EQ(config["activation_function"], "gelu_new");
  EXPECT_EQ(config["vocab_size"], 101);
  EXPECT_EQ(config["n_positions"], 16);
  EXPECT_EQ(config["n_head"], 3);
  EXPECT_TRUE(config["n_inner"].is_null());
  EXPECT_EQ(config["tie_word_embeddings"], true);
  EXPECT_EQ(config["eos_token_id"], 100);
}

TEST_F(HfGpt2Test, RoundTripIsBitwiseInEveryFormat) {
  for (const bool tied : {true, false}) {
    ModelConfig c = small_gpt2();
    c.tie_embeddings = tied;
    c.mlp_hidden = 40;  // n_inner
    auto params = random_params(c);
    for (FloatFormat format : {FloatFormat::f32, FloatFormat::f16, FloatFormat::bf16}) {
      const auto first = dir_ / ("first" + std::to_string(tied)), second = dir_ / ("second" + std::to_string(tied));
      write_folder(first, c, params, format);
      const HfGpt2Reader reader(first, c);
      EXPECT_TRUE(reader.unused().empty());
      EXPECT_EQ(reader.dtypes(), safetensors_dtype(format));
      const auto read = read_all(reader, c);
      const ParamTable table(c);
      for (const ParamInfo& p : table.entries()) {
        const std::vector<float>& v = read.at(p.name);
        ASSERT_EQ(v.size(), static_cast<std::size_t>(p.numel)) << p.name;
        for (std::size_t i = 0; i < v.size(); ++i) {
          const float x = params.at(p.name)[i];
          const float want = format == FloatFormat::f32   ? x
                             : format == FloatFormat::f16 ? half_bits_to_float(float_to_half_bits(x))
                                                          : bf16_bits_to_float(float_to_bf16_bits(x));
          ASSERT_EQ(v[i], want) << p.name << "[" << i << "]";
        }
      }
      write_folder(second, c, read, format);
      EXPECT_EQ(test::read_file(first / "model.safetensors"), test::read_file(second / "model.safetensors"));
      EXPECT_EQ(test::read_file(first / "config.json"), test::read_file(second / "config.json"));
    }
  }
}

TEST_F(HfGpt2Test, LoadsIntoAModelAdaptingPositionsVocabularyAndTying) {
  // The folder: 32 positions, tied, names without "transformer." (OpenAI's upload) and the causal
  // mask buffers older transformers saved.
  ModelConfig folder = small_gpt2();
  folder.block_size = 32;
  const auto params = random_params(folder);
  std::vector<SafetensorsTensor> tensors;
  std::vector<std::vector<float>> transposed;
  transposed.reserve(16);
  const std::vector<float> mask(32 * 32, 1.0f);
  const ParamTable folder_table(folder);
  for (const ParamInfo& p : folder_table.entries()) {
    const float* data = params.at(p.name).data();
    if (p.name.find("c_attn.weight") != std::string::npos || p.name.find("c_proj.weight") != std::string::npos ||
        p.name.find("c_fc.weight") != std::string::npos) {
      auto& t = transposed.emplace_back(static_cast<std::size_t>(p.numel));
      for (std::int64_t o = 0; o < p.shape[0]; ++o)
        for (std::int64_t i = 0; i < p.shape[1]; ++i) t[i * p.shape[0] + o] = data[o * p.shape[1] + i];
      tensors.push_back({p.name, {p.shape[1], p.shape[0]}, t.data()});
    } else {
      tensors.push_back({p.name, p.name == "wte.weight" ? std::vector<std::int64_t>{101, 24} : p.shape, data});
    }
  }
  tensors.push_back({"h.0.attn.bias", {1, 1, 32, 32}, mask.data()});
  tensors.push_back({"h.1.attn.masked_bias", {}, mask.data()});
  tensors.push_back({"score.weight", {2, 24}, params.at("wte.weight").data()});
  std::filesystem::create_directories(dir_ / "openai");
  write_safetensors(dir_ / "openai" / "model.safetensors", tensors, FloatFormat::f32, {});
  std::ofstream(dir_ / "openai" / "config.json") << hf_gpt2_config_json(folder, FloatFormat::f32, 100);

  ModelConfig run = small_gpt2();  // 16 positions, untied
  run.tie_embeddings = false;
  CpuBackend<float> backend(1);
  GPT model(run, backend);
  const std::string report = load_hf_gpt2(model, dir_ / "openai");
  EXPECT_HAS(report, "wpe.weight: the first 16 of its 32 positions");
  EXPECT_HAS(report, "lm_head.weight copied from wte.weight");
  EXPECT_HAS(report, "padded with zero rows to 128");
  EXPECT_HAS(report, "not used (this model has no such parameter): score.weight");
  EXPECT_EQ(report.find("attn.bias"), std::string::npos) << report;

  auto param = [&](const std::string& name) {
    const Tensor t = model.param(name);
    return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
  };
  const std::vector<float> wpe = param("wpe.weight");
  EXPECT_EQ(wpe, std::vector<float>(params.at("wpe.weight").begin(), params.at("wpe.weight").begin() + 16 * 24));
  EXPECT_EQ(param("lm_head.weight"), params.at("wte.weight"));  // padding rows zero in both
  EXPECT_EQ(param("h.1.attn.c_proj.weight"), params.at("h.1.attn.c_proj.weight"));
  EXPECT_EQ(param("ln_f.bias"), params.at("ln_f.bias"));
}

class HfGpt2RefusalTest : public HfGpt2Test {
 protected:
  void SetUp() override {
    HfGpt2Test::SetUp();
    fresh_folder();
  }
  void fresh_folder() {
    std::filesystem::remove_all(dir_ / "hf");
    write_folder(dir_ / "hf", small_gpt2(), random_params(small_gpt2()));
  }
  void set_config(const std::string& key, const nlohmann::json& value) {
    nlohmann::json j = nlohmann::json::parse(test::read_file(dir_ / "hf" / "config.json"));
    j[key] = value;
    std::ofstream(dir_ / "hf" / "config.json", std::ios::trunc) << j.dump();
  }
  std::string refusal(const ModelConfig& run) {
    return message_of<InputError>([&] { (void)read_all(HfGpt2Reader(dir_ / "hf", run), run); });
  }
};

TEST_F(HfGpt2RefusalTest, ConfigThatDoesNotFitNamesEveryKey) {
  ModelConfig run = small_gpt2();
  run.n_embd = 48;
  run.n_layer = 3;
  run.real_vocab_size = 100;
  const std::string message = refusal(run);
  EXPECT_HAS(message, (dir_ / "hf" / "config.json").string());
  EXPECT_HAS(message, "n_embd is 24, the run's model.n_embd is 48");
  EXPECT_HAS(message, "n_layer is 2, the run's model.n_layer is 3");
  EXPECT_HAS(message, "vocab_size is 101, the run's model.real_vocab_size is 100");
  EXPECT_HAS(message, "n_inner (null: 4·n_embd) is 96, the run's MLP width (model.mlp_hidden) is 192");

  run = small_gpt2();
  run.block_size = 17;
  EXPECT_HAS(refusal(run), "n_positions is 16, less than the run's model.block_size (17)");
  run = small_gpt2();
  run.activation = Activation::swiglu;
  EXPECT_HAS(refusal(run), "model.activation = \"swiglu\" (GPT-2 has a GELU MLP)");
  run = small_gpt2();
  run.bias = false;
  EXPECT_HAS(refusal(run), "model.bias = false (GPT-2 has biases)");
  // Every option of the modern recipe at once: each is named.
  run = small_gpt2();
  run.activation = Activation::relu2;
  run.positions = Positions::rope;
  run.norm = NormKind::rmsnorm;
  run.qk_norm = true;
  run.logit_softcap = 30;
  const std::string modern = refusal(run);
  for (const char* key : {"model.activation = \"relu2\"", "model.positions = \"rope\"", "model.norm = \"rmsnorm\"",
                          "model.qk_norm = true", "model.logit_softcap"})
    EXPECT_HAS(modern, key);
  // Initialisation is not architecture: GPT-2's weights load into a zero-init-projections run.
  run = small_gpt2();
  run.zero_init_projections = true;
  EXPECT_TRUE(gpt2_departures(run).empty());
}

TEST_F(HfGpt2RefusalTest, ConfigKeysThisModelCannotComputeAreNamed) {
  const std::vector<std::pair<std::string, nlohmann::json>> cases = {
      {"model_type", "llama"},
      {"activation_function", "relu"},
      {"layer_norm_epsilon", 1e-6},
      {"scale_attn_weights", false},
      {"scale_attn_by_inverse_layer_idx", true},
      {"n_embd", "24"},
      {"n_head", 5},
  };
  for (const auto& [key, value] : cases) {
    fresh_folder();
    set_config(key, value);
    const std::string message = refusal(small_gpt2());
    EXPECT_HAS(message, "config.json: " + key) << key;
  }
}

TEST_F(HfGpt2RefusalTest, MissingFilesAndBadTensorsAreNamed) {
  const ModelConfig run = small_gpt2();
  std::filesystem::remove(dir_ / "hf" / "config.json");
  EXPECT_HAS(refusal(run), "config.json is missing");
  EXPECT_HAS(message_of<ConfigError>([&] { HfGpt2Reader reader(dir_ / "nothing", run); }), "not a folder");

  fresh_folder();
  std::filesystem::remove(dir_ / "hf" / "model.safetensors");
  std::ofstream(dir_ / "hf" / "pytorch_model.bin") << "pickle";
  EXPECT_HAS(refusal(run), "model.safetensors is missing (the folder has only pytorch_model.bin");

  // A tensor of another shape, one missing, one of an unsupported dtype, one with a NaN.
  auto rewrite = [&](const std::function<void(std::vector<SafetensorsTensor>&)>& edit) {
    const SafetensorsFile original(dir_ / "hf" / "model.safetensors");
    std::map<std::string, std::vector<float>> values;
    std::vector<SafetensorsTensor> tensors;
    for (const auto& [name, e] : original.tensors()) {
      values[name] = original.read_float32(name);
      tensors.push_back({name, e.shape, values[name].data()});
    }
    edit(tensors);
    write_safetensors(dir_ / "hf" / "model.safetensors.new", tensors, FloatFormat::f32, {});
    std::filesystem::rename(dir_ / "hf" / "model.safetensors.new", dir_ / "hf" / "model.safetensors");
  };
  fresh_folder();
  rewrite([](auto& t) {
    for (auto& x : t)
      if (x.name == "transformer.h.1.attn.c_proj.weight") x.shape = {12, 48};
  });
  EXPECT_HAS(refusal(run),
             "tensor transformer.h.1.attn.c_proj.weight has shape (12, 48), but config.json and the "
             "run's model need (24, 24) (Conv1D weights are stored (in, out))");
  fresh_folder();
  rewrite([](auto& t) { std::erase_if(t, [](const auto& x) { return x.name == "transformer.ln_f.bias"; }); });
  EXPECT_HAS(refusal(run), "no tensor transformer.ln_f.bias (or ln_f.bias), which the model needs");
  fresh_folder();
  std::vector<float> with_nan(24, 1.0f);
  with_nan[5] = std::nanf("");
  rewrite([&](auto& t) {
    for (auto& x : t)
      if (x.name == "transformer.h.0.ln_1.weight") x.data = with_nan.data();
  });
  EXPECT_HAS(refusal(run), "tensor transformer.h.0.ln_1.weight holds nan at index 5");

  // F64: a dtype the format has but weights are not read from.
  fresh_folder();
  const SafetensorsFile original(dir_ / "hf" / "model.safetensors");
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, e] : original.tensors()) {
    const std::vector<float> v = original.read_float32(name);
    const bool wide = name == "transformer.h.0.ln_2.bias";
    header[name] = {{"dtype", wide ? "F64" : "F32"},
                    {"shape", e.shape},
                    {"data_offsets", {data.size(), data.size() + v.size() * (wide ? 8 : 4)}}};
    for (float x : v) {
      const double d = x;
      data.append(wide ? reinterpret_cast<const char*>(&d) : reinterpret_cast<const char*>(&x), wide ? 8 : 4);
    }
  }
  write_bytes(dir_ / "hf" / "model.safetensors", safetensors_bytes(header.dump(), data));
  EXPECT_HAS(refusal(run), "model.safetensors: tensor transformer.h.0.ln_2.bias is F64; weights are read from F32");
}

TEST_F(HfGpt2Test, ModelsGpt2CannotRepresentAreNotExported) {
  ModelConfig swiglu = small_gpt2();
  swiglu.activation = Activation::swiglu;
  EXPECT_HAS(message_of<ConfigError>([&] { write_folder(dir_ / "s", swiglu, random_params(swiglu)); }),
             "cannot be exported as GPT-2: model.activation = \"swiglu\" (GPT-2 has a GELU MLP)");
  ModelConfig no_bias = small_gpt2();
  no_bias.bias = false;
  EXPECT_HAS(message_of<ConfigError>([&] { write_folder(dir_ / "b", no_bias, random_params(no_bias)); }),
             "model.bias = false");
  ModelConfig rope = small_gpt2();
  rope.positions = Positions::rope;
  EXPECT_HAS(message_of<ConfigError>([&] { write_folder(dir_ / "r", rope, random_params(rope)); }),
             "model.positions = \"rope\"");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "s"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "b"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "r"));
}

TEST_F(HfGpt2Test, ModelConfigOfAFolderPadsTheVocabulary) {
  HfGpt2Config hf;
  hf.vocab_size = 50257;
  hf.n_inner = 100;
  hf.tie_word_embeddings = false;
  const ModelConfig m = model_config_of(hf);
  EXPECT_EQ(m.vocab_size, 50304);
  EXPECT_EQ(m.real_vocab_size, 50257);
  EXPECT_EQ(m.block_size, 1024);
  EXPECT_EQ(m.hidden(), 100);
  EXPECT_FALSE(m.tie_embeddings);
}

}  // namespace
}  // namespace gpt
