#include "core/tensor.h"

namespace gpt {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "f32";
    case DType::f64:
      return "f64";
    case DType::bf16:
      return "bf16";
    case DType::i32:
      return "i32";
  }
  return "?";
}

Tensor::Tensor(void* p, DType t, std::initializer_list<std::int64_t> dims) : ptr(p), dtype(t) {
  if (dims.size() > kMaxDims) throw std::logic_error("tensor has too many dimensions");
  for (std::int64_t d : dims) shape[static_cast<std::size_t>(ndim++)] = d;
}

Tensor::Tensor(void* p, DType t, const std::vector<std::int64_t>& dims) : ptr(p), dtype(t) {
  if (dims.size() > kMaxDims) throw std::logic_error("tensor has too many dimensions");
  for (std::int64_t d : dims) shape[static_cast<std::size_t>(ndim++)] = d;
}

std::int64_t Tensor::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= shape[static_cast<std::size_t>(i)];
  return n;
}

Tensor Tensor::view(std::initializer_list<std::int64_t> dims) const {
  Tensor t(ptr, dtype, dims);
  if (t.numel() != numel()) throw std::logic_error("view changes the element count");
  return t;
}

Tensor Tensor::rows(std::int64_t begin, std::int64_t count) const {
  if (ndim < 1 || begin < 0 || begin + count > shape[0]) throw std::logic_error("row range out of bounds");
  Tensor t = *this;
  t.shape[0] = count;
  t.ptr = static_cast<char*>(ptr) +
          static_cast<std::size_t>(begin) * static_cast<std::size_t>(numel() / shape[0]) * dtype_size(dtype);
  return t;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + ")";
}

}  // namespace gpt
