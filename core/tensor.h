#pragma once
// A non-owning view of a backend buffer: pointer, element type and shape. Ops take these so the
// same model code drives fp32, fp64 (gradient checks) and, later, bf16 backends.
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace gpt {

enum class DType : std::uint8_t { f32, f64, bf16, i32 };

constexpr std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32:
      return 4;
    case DType::f64:
      return 8;
    case DType::bf16:
      return 2;
    case DType::i32:
      return 4;
  }
  return 0;
}

const char* dtype_name(DType t);
// A shape as messages print it: "(768, 2304)".
std::string shape_text(const std::vector<std::int64_t>& shape);

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<std::int32_t>() {
  return DType::i32;
}

struct Tensor {
  static constexpr int kMaxDims = 4;

  void* ptr = nullptr;
  DType dtype = DType::f32;
  int ndim = 0;
  std::array<std::int64_t, kMaxDims> shape{};

  Tensor() = default;
  Tensor(void* p, DType t, std::initializer_list<std::int64_t> dims);
  Tensor(void* p, DType t, const std::vector<std::int64_t>& dims);

  std::int64_t numel() const;
  std::int64_t dim(int i) const { return shape.at(static_cast<std::size_t>(i < 0 ? ndim + i : i)); }
  std::size_t bytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype); }
  bool empty() const { return ptr == nullptr; }

  // Typed access; throws if the element type differs, so a backend never misreads a buffer.
  template <class T>
  T* data() const {
    if (dtype != dtype_of<T>()) throw std::logic_error(std::string("tensor holds ") + dtype_name(dtype));
    return static_cast<T*>(ptr);
  }

  // The same memory seen with another shape of equal element count.
  Tensor view(std::initializer_list<std::int64_t> dims) const;
  // Rows [begin, begin+count) of the leading dimension.
  Tensor rows(std::int64_t begin, std::int64_t count) const;
};

}  // namespace gpt
