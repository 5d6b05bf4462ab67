#pragma once
// Runs an OpCase on a backend: allocates its tensors there, fills inputs from a seed (the same
// float values on every backend), poisons outputs with NaN so an op that skips an element is
// caught, and reads results back as double.
#include <limits>
#include <vector>

#include "core/ops/backend.h"
#include "core/rng.h"
#include "tests/unit/op_cases.h"

namespace gpt::test {

class OpHarness {
 public:
  OpHarness(Backend& be, const OpCase& c, std::uint64_t seed) : be_(be), case_(c) {
    const DType dt = be.act_dtype();
    std::uint64_t stream = 0;
    auto seeded = [&](const Shape& s, double scale, bool uniform) {
      Tensor t = make(s, dt);
      std::vector<float> host(static_cast<std::size_t>(t.numel()));
      const std::uint64_t key = rng::derive(seed, ++stream);
      for (std::size_t i = 0; i < host.size(); ++i)
        host[i] = static_cast<float>(scale * rng::normal(key, uniform ? 0 : i));
      be.upload(t, host.data());
      return t;
    };
    for (const Shape& s : c.inputs) args.in.push_back(seeded(s, c.input_scale, false));
    for (const Shape& s : c.outputs) args.out.push_back(make(s, dt));
    for (const Shape& s : c.aux) args.aux.push_back(make(s, dt));
    for (const Shape& s : c.outputs) args.dout.push_back(seeded(s, 1.0, c.uniform_dout));
    for (const Shape& s : c.inputs) args.din.push_back(make(s, dt));
    if (!c.ints_shape.empty()) {
      args.ints = make(c.ints_shape, DType::i32);
      std::vector<std::int32_t> host(static_cast<std::size_t>(args.ints.numel()));
      const std::uint64_t key = rng::derive(seed, ++stream);
      for (std::size_t i = 0; i < host.size(); ++i)
        host[i] = static_cast<std::int32_t>(rng::below(key, i, static_cast<std::uint64_t>(c.ints_limit)));
      be.upload_bytes(args.ints.ptr, host.data(), host.size() * sizeof(std::int32_t));
    }
  }

  void forward() {
    for (Tensor& t : args.out) poison(t);
    case_.forward(be_, args);
  }
  // Gradients start at zero (several ops accumulate into them by contract).
  void backward() {
    for (Tensor& t : args.din) be_.zero(t);
    case_.backward(be_, args);
  }

  std::vector<double> read(const Tensor& t) const {
    std::vector<float> host(static_cast<std::size_t>(t.numel()));
    if (t.dtype == DType::f64) {
      std::vector<double> d(host.size());
      be_.download_bytes(d.data(), t.ptr, t.bytes());
      return d;
    }
    be_.download(t, host.data());
    return std::vector<double>(host.begin(), host.end());
  }

  // Σ_k out_k ⊙ dout_k, accumulated in double: the scalar whose gradient backward() computes.
  double objective() const {
    double s = 0;
    for (std::size_t k = 0; k < args.out.size(); ++k) {
      const std::vector<double> o = read(args.out[k]), r = read(args.dout[k]);
      for (std::size_t i = 0; i < o.size(); ++i) s += o[i] * r[i];
    }
    return s;
  }

  OpArgs args;

 private:
  Tensor make(const Shape& s, DType dt) {
    buffers_.emplace_back(be_, [&] {
      std::size_t n = dtype_size(dt);
      for (std::int64_t d : s) n *= static_cast<std::size_t>(d);
      return n;
    }());
    return Tensor(buffers_.back().get(), dt, s);
  }
  void poison(Tensor& t) {
    std::vector<float> nan(static_cast<std::size_t>(t.numel()), std::numeric_limits<float>::quiet_NaN());
    be_.upload(t, nan.data());
  }

  Backend& be_;
  const OpCase& case_;
  std::vector<Buffer> buffers_;
};

// ‖a - b‖ / ‖b‖ (or ‖a‖ when b is zero).
inline double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, ref = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    ref += b[i] * b[i];
  }
  return ref > 0 ? std::sqrt(diff / ref) : std::sqrt(diff);
}

}  // namespace gpt::test
