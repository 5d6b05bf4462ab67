// What tests/python/check_hf_gpt2.py compares with transformers: our fp32 CPU model loaded from a
// Hugging Face GPT-2 folder (the import) or from one of our checkpoints, run on given tokens.
//   hf_logits (--hf DIR | --checkpoint FILE) --rows B --tokens t0,t1,... --out LOGITS
//             [--hf-out DIR [--dtype float32|float16|bfloat16]]
// Each of the B rows holds T+1 tokens: the model reads the first T and is scored on the next T.
// LOGITS gets float32 (B, T, real vocabulary); stdout one JSON line {"loss": ..., "B": .., "T": ..}.
// --hf-out writes the parameters back out of the model's buffers as a Hugging Face folder, so
// that HF -> ours -> HF can be compared bitwise.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/model/gpt.h"
#include "core/ops/cpu/cpu_backend.h"
#include "tests/support/cpu_threads.h"
#include "train/checkpoint/hf/gpt2_config.h"
#include "train/checkpoint/hf/gpt2_folder.h"
#include "train/checkpoint/model_checkpoint.h"
#include "train/run_config.h"

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  if ((args.count("--hf") == args.count("--checkpoint")) || !args.count("--rows") || !args.count("--tokens") ||
      !args.count("--out")) {
    std::cerr << "usage: hf_logits (--hf DIR | --checkpoint FILE) --rows B --tokens t0,t1,... --out LOGITS "
                 "[--hf-out DIR [--dtype float32|float16|bfloat16]]\n";
    return 2;
  }
  try {
    std::vector<std::int32_t> tokens;
    std::stringstream list(args["--tokens"]);
    for (std::string t; std::getline(list, t, ',');) tokens.push_back(std::stoi(t));
    const std::int64_t B = std::stoll(args["--rows"]);
    const std::int64_t T = B > 0 ? static_cast<std::int64_t>(tokens.size()) / B - 1 : 0;
    if (T < 1 || (T + 1) * B != static_cast<std::int64_t>(tokens.size()))
      throw std::invalid_argument("--tokens must hold --rows rows of equal length, at least 2 tokens each");
    std::vector<std::int32_t> inputs, targets;
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t t = 0; t < T; ++t) {
        inputs.push_back(tokens[b * (T + 1) + t]);
        targets.push_back(tokens[b * (T + 1) + t + 1]);
      }

    gpt::ModelConfig config;
    std::optional<gpt::CheckpointFile> checkpoint;
    if (args.count("--hf")) {
      config = gpt::model_config_of(gpt::read_hf_gpt2_config(std::filesystem::path(args["--hf"]) / "config.json"));
    } else {
      checkpoint.emplace(args["--checkpoint"]);
      config = gpt::parse_run_config(checkpoint->attr_string("/", "config"), "checkpoint", ".", {}).model;
    }
    gpt::CpuBackend<float> backend(gpt::test::cpu_threads());
    gpt::GPT model(config, backend);
    if (checkpoint)
      gpt::load_model_parameters(model, *checkpoint);
    else
      std::cerr << gpt::load_hf_gpt2(model, args["--hf"]) << "\n";

    const double loss = model.forward({inputs.data(), targets.data(), B, T}, {});
    const gpt::Tensor logits = model.logits();  // (B, T, vocab_size): keep the real vocabulary
    std::ofstream out(args["--out"], std::ios::binary);
    for (std::int64_t row = 0; row < B * T; ++row)
      out.write(reinterpret_cast<const char*>(logits.data<float>() + row * config.vocab_size),
                static_cast<std::streamsize>(config.real_vocab_size * sizeof(float)));
    if (!out) throw std::runtime_error("cannot write " + args["--out"]);

    if (args.count("--hf-out")) {
      const std::map<std::string, gpt::FloatFormat> formats = {
          {"float32", gpt::FloatFormat::f32}, {"float16", gpt::FloatFormat::f16}, {"bfloat16", gpt::FloatFormat::bf16}};
      const std::string dtype = args.count("--dtype") ? args["--dtype"] : "float32";
      gpt::write_hf_gpt2(
          args["--hf-out"], config, [&](const gpt::ParamInfo& p) { return model.param(p).data<float>(); },
          formats.at(dtype), config.real_vocab_size - 1);
    }
    std::cout << nlohmann::json{{"loss", loss}, {"B", B}, {"T", T}}.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
