#pragma once
// The named tensors of a GPT-2 model laid out in one flat buffer. Parameters, gradients and each
// optimizer moment share this layout, so all-reduce, clipping and checkpoints work on ranges.
// Names follow Hugging Face's GPT-2 (without the "transformer." prefix); weights are stored
// (out_features, in_features).
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/model/model_config.h"
#include "core/tensor.h"

namespace gpt {

enum class ParamInit { normal, residual_normal, zeros, ones };

struct ParamInfo {
  std::string name;
  std::vector<std::int64_t> shape;
  std::int64_t offset = 0;  // in elements from the start of the flat buffer
  std::int64_t numel = 0;
  bool decay = false;  // AdamW weight decay applies to 2-D weights only
  ParamInit init = ParamInit::zeros;
};

// A range [begin, end) of the flat parameter-shaped buffers, in elements.
struct FlatRange {
  std::int64_t begin = 0, end = 0;
  std::int64_t size() const { return end - begin; }
};

class ParamTable {
 public:
  // Offsets are rounded up to this many elements so every tensor starts 256-byte aligned on any dtype.
  static constexpr std::int64_t kAlign = 128;

  explicit ParamTable(const ModelConfig& config);

  const std::vector<ParamInfo>& entries() const { return entries_; }
  const ParamInfo& at(const std::string& name) const;
  const ParamInfo* find(const std::string& name) const;
  std::int64_t buffer_numel() const { return buffer_numel_; }  // including alignment gaps
  std::int64_t parameter_count() const;                        // real parameters only

 private:
  void add(std::string name, std::vector<std::int64_t> shape, ParamInit init);
  std::vector<ParamInfo> entries_;
  std::unordered_map<std::string, std::size_t> index_;
  std::int64_t buffer_numel_ = 0;
};

// The tensor `p` inside a flat buffer that starts at `base` and holds elements of `dtype`.
Tensor tensor_in(void* base, DType dtype, const ParamInfo& p);
// Elements [begin, begin + size) of a flat buffer, as a 1-D tensor.
Tensor flat_slice(const Tensor& flat, std::int64_t begin, std::int64_t size);
inline Tensor flat_slice(const Tensor& flat, const FlatRange& r) {
  return flat_slice(flat, r.begin, r.size());
}

// Name of layer l's tensor, e.g. layer_param(3, "attn.c_attn.weight") = "h.3.attn.c_attn.weight".
std::string layer_param(std::int64_t layer, const char* suffix);

}  // namespace gpt
