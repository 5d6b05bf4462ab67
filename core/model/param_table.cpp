#include "core/model/param_table.h"

#include <stdexcept>

namespace gpt {

std::string layer_param(std::int64_t layer, const char* suffix) {
  return "h." + std::to_string(layer) + "." + suffix;
}

Tensor tensor_in(void* base, DType dtype, const ParamInfo& p) {
  return Tensor(static_cast<char*>(base) + static_cast<std::size_t>(p.offset) * dtype_size(dtype), dtype, p.shape);
}

Tensor flat_slice(const Tensor& flat, std::int64_t begin, std::int64_t size) {
  return Tensor(static_cast<char*>(flat.ptr) + static_cast<std::size_t>(begin) * dtype_size(flat.dtype), flat.dtype,
                {size});
}

ParamTable::ParamTable(const ModelConfig& c) {
  const std::int64_t C = c.n_embd;
  const std::int64_t fc_out = c.activation == Activation::swiglu ? 2 * c.hidden() : c.hidden();
  auto add_linear = [&](std::int64_t l, const char* name, std::int64_t out, std::int64_t in, ParamInit init) {
    add(layer_param(l, (std::string(name) + ".weight").c_str()), {out, in}, init);
    if (c.bias) add(layer_param(l, (std::string(name) + ".bias").c_str()), {out}, ParamInit::zeros);
  };
  auto add_layernorm = [&](const std::string& prefix) {
    add(prefix + ".weight", {C}, ParamInit::ones);
    if (c.bias && c.norm == NormKind::layernorm) add(prefix + ".bias", {C}, ParamInit::zeros);
  };
  const ParamInit projection = c.zero_init_projections ? ParamInit::zeros : ParamInit::residual_normal;

  add("wte.weight", {c.vocab_size, C}, ParamInit::normal);
  if (c.positions == Positions::learned) add("wpe.weight", {c.block_size, C}, ParamInit::normal);
  for (std::int64_t l = 0; l < c.n_layer; ++l) {
    add_layernorm(layer_param(l, "ln_1"));
    add_linear(l, "attn.c_attn", 3 * C, C, ParamInit::normal);
    add_linear(l, "attn.c_proj", C, C, projection);
    add_layernorm(layer_param(l, "ln_2"));
    add_linear(l, "mlp.c_fc", fc_out, C, ParamInit::normal);
    add_linear(l, "mlp.c_proj", C, c.hidden(), projection);
  }
  add_layernorm("ln_f");
  if (!c.tie_embeddings) add("lm_head.weight", {c.vocab_size, C}, ParamInit::normal);
}

void ParamTable::add(std::string name, std::vector<std::int64_t> shape, ParamInit init) {
  ParamInfo p;
  p.name = std::move(name);
  p.numel = 1;
  for (std::int64_t d : shape) p.numel *= d;
  p.shape = std::move(shape);
  p.offset = buffer_numel_;
  p.decay = p.shape.size() == 2;
  p.init = init;
  buffer_numel_ += (p.numel + kAlign - 1) / kAlign * kAlign;
  index_.emplace(p.name, entries_.size());
  entries_.push_back(std::move(p));
}

const ParamInfo* ParamTable::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const ParamInfo& ParamTable::at(const std::string& name) const {
  if (const ParamInfo* p = find(name)) return *p;
  throw std::out_of_range("no parameter named " + name);
}

std::int64_t ParamTable::parameter_count() const {
  std::int64_t n = 0;
  for (const ParamInfo& p : entries_) n += p.numel;
  return n;
}

}  // namespace gpt
