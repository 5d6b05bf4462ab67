// Writes what tests/reference/gpt2_reference.py compares against PyTorch: a small model's initial
// weights, a batch, our logits, loss and gradients, and the losses and weights of 10 AdamW steps
// (the trainer's own AdamW and clipping), all from the fp32 CPU backend.
//   export_reference --case NAME --out DIR
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model/gpt.h"
#include "core/ops/cpu/cpu_backend.h"
#include "core/rng.h"
#include "tests/support/cpu_threads.h"
#include "train/optimizer.h"

namespace {

using gpt::Activation;

struct Case {
  gpt::ModelConfig model;
  std::int64_t B, T;
};

gpt::ModelConfig shape(std::int64_t vocab, std::int64_t real_vocab, std::int64_t layers, std::int64_t heads,
                       std::int64_t embd, Activation act, bool bias, bool tied, std::int64_t hidden = 0) {
  gpt::ModelConfig c;
  c.vocab_size = vocab;
  c.real_vocab_size = real_vocab;
  c.block_size = 32;
  c.n_layer = layers;
  c.n_head = heads;
  c.n_embd = embd;
  c.activation = act;
  c.bias = bias;
  c.tie_embeddings = tied;
  c.mlp_hidden = hidden;
  return c;
}

// The modern recipe's options on top of a shape. The soft-caps are low so that tanh bends the
// small logits of a freshly initialised model.
gpt::ModelConfig modern(gpt::ModelConfig c, double softcap, bool zero_init) {
  c.positions = gpt::Positions::rope;
  c.norm = gpt::NormKind::rmsnorm;
  c.qk_norm = true;
  c.logit_softcap = softcap;
  c.zero_init_projections = zero_init;
  return c;
}

gpt::ModelConfig rope_only(gpt::ModelConfig c) {
  c.positions = gpt::Positions::rope;
  c.rope_base = 500;
  return c;
}

// Round sizes, and odd ones (T not a power of two, n_embd 96 over 3 heads, odd vocabularies).
const std::map<std::string, Case> kCases = {
    {"modern_untied_nobias", {modern(shape(128, 120, 2, 4, 64, Activation::relu2, false, false), 0.5, false), 2, 16}},
    {"odd_modern_zero_init", {modern(shape(101, 97, 3, 3, 96, Activation::relu2, true, true), 2.0, true), 3, 13}},
    {"rope_gelu", {rope_only(shape(128, 120, 2, 4, 64, Activation::gelu, true, true)), 2, 16}},
    {"gelu_tied", {shape(128, 120, 2, 4, 64, Activation::gelu, true, true), 2, 16}},
    {"gelu_untied_nobias", {shape(128, 120, 2, 4, 64, Activation::gelu, false, false), 2, 16}},
    {"swiglu_tied", {shape(128, 120, 2, 4, 64, Activation::swiglu, true, true), 2, 16}},
    {"swiglu_untied_nobias", {shape(128, 120, 2, 4, 64, Activation::swiglu, false, false), 2, 16}},
    {"odd_gelu", {shape(101, 97, 3, 3, 96, Activation::gelu, true, true), 3, 13}},
    {"odd_swiglu", {shape(101, 97, 3, 3, 96, Activation::swiglu, false, false, 100), 3, 13}},
};

void write_floats(const std::filesystem::path& path, const gpt::Tensor& t) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(t.ptr), static_cast<std::streamsize>(t.bytes()));
}

void write_ints(const std::filesystem::path& path, const std::vector<std::int32_t>& v) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(std::int32_t)));
}

}  // namespace

int main(int argc, char** argv) {
  std::string name;
  std::filesystem::path dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--case") name = argv[i + 1];
    if (flag == "--out") dir = argv[i + 1];
  }
  const auto found = kCases.find(name);
  if (found == kCases.end() || dir.empty()) {
    std::cerr << "usage: export_reference --case NAME --out DIR  (cases:";
    for (const auto& [n, c] : kCases) std::cerr << " " << n;
    std::cerr << ")\n";
    return 2;
  }
  const Case& c = found->second;
  std::filesystem::create_directories(dir);

  gpt::OptimConfig optim;
  optim.lr = 1e-3;
  optim.weight_decay = 0.1;
  // eps 1e-6, not 1e-8: some gradients are exactly zero in exact arithmetic (the key bias of
  // attention: softmax ignores a shift shared by all keys) and fp32 noise there is ~1e-11.
  // With eps 1e-8 Adam turns that noise into real steps the fp64 reference does not take.
  optim.eps = 1e-6;
  const double grad_clip = 0.5;
  const int steps = 10;

  gpt::CpuBackend<float> backend(gpt::test::cpu_threads());
  gpt::GPT model(c.model, backend);
  model.init_weights(42);
  write_floats(dir / "params.bin", model.params());

  std::vector<std::int32_t> tokens, targets;
  for (std::int64_t i = 0; i < c.B * c.T; ++i) {
    tokens.push_back(
        static_cast<std::int32_t>(gpt::rng::below(9, static_cast<std::uint64_t>(i), c.model.real_vocab_size)));
    targets.push_back(
        static_cast<std::int32_t>(gpt::rng::below(10, static_cast<std::uint64_t>(i), c.model.real_vocab_size)));
  }
  write_ints(dir / "tokens.bin", tokens);
  write_ints(dir / "targets.bin", targets);
  const gpt::Batch batch{tokens.data(), targets.data(), c.B, c.T};
  const double scale = 1.0 / static_cast<double>(c.B * c.T);

  nlohmann::json j;
  j["loss"] = model.forward(batch, {});
  write_floats(dir / "logits.bin", model.logits());

  gpt::AdamW adamw(model, optim);
  std::vector<double> step_losses;
  for (int s = 0; s < steps; ++s) {
    model.zero_grads();
    step_losses.push_back(model.forward(batch, {.loss_scale = scale}));
    model.backward();
    if (s == 0) write_floats(dir / "grads.bin", model.grads());
    adamw.step(optim.lr, grad_clip);
  }
  j["final_loss"] = model.forward(batch, {});
  write_floats(dir / "final_params.bin", model.params());

  const gpt::ModelConfig& m = c.model;
  j["model"] = {{"vocab_size", m.vocab_size},
                {"real_vocab_size", m.real_vocab_size},
                {"block_size", m.block_size},
                {"n_layer", m.n_layer},
                {"n_head", m.n_head},
                {"n_embd", m.n_embd},
                {"hidden", m.hidden()},
                {"bias", m.bias},
                {"activation", m.activation == Activation::gelu     ? "gelu"
                               : m.activation == Activation::swiglu ? "swiglu"
                                                                    : "relu2"},
                {"tie_embeddings", m.tie_embeddings},
                {"positions", m.positions == gpt::Positions::rope ? "rope" : "learned"},
                {"rope_base", m.rope_base},
                {"norm", m.norm == gpt::NormKind::rmsnorm ? "rmsnorm" : "layernorm"},
                {"qk_norm", m.qk_norm},
                {"logit_softcap", m.logit_softcap}};
  j["B"] = c.B;
  j["T"] = c.T;
  j["steps"] = steps;
  j["optim"] = {{"lr", optim.lr},
                {"beta1", optim.beta1},
                {"beta2", optim.beta2},
                {"eps", optim.eps},
                {"weight_decay", optim.weight_decay},
                {"grad_clip", grad_clip}};
  j["param_numel"] = model.table().buffer_numel();
  for (const gpt::ParamInfo& p : model.table().entries())
    j["params"].push_back({{"name", p.name}, {"shape", p.shape}, {"offset", p.offset}, {"decay", p.decay}});
  j["step_losses"] = step_losses;
  std::ofstream(dir / "case.json") << j.dump(1) << '\n';
  return 0;
}
