#pragma once
// Runs an OpCase on a backend: allocates its tensors there, fills inputs from a seed (the same
// float values on every backend; rounded to bf16 first with bf16_inputs, so a reference sees
// exactly what a bf16 backend sees), poisons outputs with NaN so an op that skips an element is
// caught, and reads results back as double.
#include <cstring>
#include <limits>
#include <vector>

#include "core/ops/backend.h"
#include "core/rng.h"
#include "tests/support/op_cases.h"

namespace gpt::test {

// Round-to-nearest-even to bf16's 8-bit mantissa, kept in a float.
inline float round_to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
}

class OpHarness {
 public:
  OpHarness(Backend& be, const OpCase& c, std::uint64_t seed, bool bf16_inputs = false) : be_(be), case_(c) {
    const DType dt = be.act_dtype(), pt = be.param_dtype();
    std::uint64_t stream = 0;
    auto seeded = [&](const Shape& s, DType type, double scale, bool uniform) {
      Tensor t = make(s, type);
      std::vector<float> host(static_cast<std::size_t>(t.numel()));
      const std::uint64_t key = rng::derive(seed, ++stream);
      for (std::size_t i = 0; i < host.size(); ++i)
        host[i] = static_cast<float>(scale * rng::normal(key, uniform ? 0 : i));
      if (bf16_inputs)
        for (float& x : host) x = round_to_bf16(x);
      be.upload(t, host.data());
      return t;
    };
    const DType out_type = c.outputs_are_stats ? pt : dt;
    for (const Shape& s : c.inputs) args.in.push_back(seeded(s, dt, c.input_scale, false));
    for (const Shape& s : c.outputs) args.out.push_back(make(s, out_type));
    for (const Shape& s : c.aux) args.aux.push_back(make(s, pt));
    for (const Shape& s : c.outputs) args.dout.push_back(seeded(s, out_type, 1.0, c.uniform_dout));
    for (std::size_t k = 0; k < c.inputs.size(); ++k) {
      const bool param = k < c.input_is_param.size() && c.input_is_param[k];
      args.din.push_back(make(c.inputs[k], param ? pt : dt));
    }
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
