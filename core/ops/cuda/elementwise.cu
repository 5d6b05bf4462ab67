// Elementwise ops: GELU, ReLU², SwiGLU, the logit soft-cap, residual add, bias add, dropout, dtype conversion and
// AdamW.
#include "core/ops/cuda/common.cuh"
#include "core/ops/cuda/kernels.h"
#include "core/rng.h"

#include <cmath>

namespace gpt::cuda {
namespace {

constexpr int kThreads = 256;
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCubic = 0.044715f;

// Grid-stride loop so any n fits in the grid blocks_for() caps.
#define GPT_FOR_EACH(i, n)                                                       \
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<i64>(gridDim.x) * blockDim.x)

// The pointwise functions, each with its derivative where a backward needs it.
struct Gelu {
  __device__ float operator()(float v) const {
    return 0.5f * v * (1.0f + tanhf(kSqrt2OverPi * (v + kGeluCubic * v * v * v)));
  }
};
struct GeluGrad {
  __device__ float operator()(float v) const {
    const float th = tanhf(kSqrt2OverPi * (v + kGeluCubic * v * v * v));
    return 0.5f * (1.0f + th) + 0.5f * v * (1.0f - th * th) * kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * v * v);
  }
};
struct Relu2 {
  __device__ float operator()(float v) const {
    const float r = fmaxf(v, 0.0f);
    return r * r;
  }
};
struct Relu2Grad {
  __device__ float operator()(float v) const { return 2.0f * fmaxf(v, 0.0f); }
};
struct Softcap {
  float cap, inv_cap;
  __device__ float operator()(float v) const { return cap * tanhf(v * inv_cap); }
};

// Activations move N elements per load (N = 1, or 16 bytes' worth where n and the pointers allow
// it): the MLP's activations are the largest elementwise tensors of a step. n counts packs of N.
// out = f(x); out may alias x (each thread reads its pack before writing it).
template <class T, int N, class F>
__global__ void pointwise_kernel(T* out, const T* x, i64 n, F f) {
  GPT_FOR_EACH(i, n) {
    const Pack<T, N> in = reinterpret_cast<const Pack<T, N>*>(x)[i];
    Pack<T, N> r;
#pragma unroll
    for (int k = 0; k < N; ++k) r.x[k] = from_float<T>(f(to_float(in.x[k])));
    reinterpret_cast<Pack<T, N>*>(out)[i] = r;
  }
}

// dx = f'(x) · dout, with grad = f'.
template <class T, int N, class G>
__global__ void pointwise_backward_kernel(T* dx, const T* dout, const T* x, i64 n, G grad) {
  GPT_FOR_EACH(i, n) {
    const Pack<T, N> in = reinterpret_cast<const Pack<T, N>*>(x)[i];
    const Pack<T, N> d = reinterpret_cast<const Pack<T, N>*>(dout)[i];
    Pack<T, N> r;
#pragma unroll
    for (int k = 0; k < N; ++k) r.x[k] = from_float<T>(grad(to_float(in.x[k])) * to_float(d.x[k]));
    reinterpret_cast<Pack<T, N>*>(dx)[i] = r;
  }
}

template <class T>
__global__ void swiglu_forward_kernel(T* out, const T* x, i64 N, i64 H) {
  GPT_FOR_EACH(i, N * H) {
    const i64 row = i / H, j = i % H;
    const float gate = to_float(x[row * 2 * H + j]), up = to_float(x[row * 2 * H + H + j]);
    out[i] = from_float<T>(gate / (1.0f + __expf(-gate)) * up);
  }
}

template <class T>
__global__ void swiglu_backward_kernel(T* dx, const T* dout, const T* x, i64 N, i64 H) {
  GPT_FOR_EACH(i, N * H) {
    const i64 row = i / H, j = i % H;
    const float gate = to_float(x[row * 2 * H + j]), up = to_float(x[row * 2 * H + H + j]);
    const float s = 1.0f / (1.0f + __expf(-gate));
    const float d = to_float(dout[i]);
    dx[row * 2 * H + H + j] = from_float<T>(d * gate * s);
    dx[row * 2 * H + j] = from_float<T>(d * up * s * (1.0f + gate * (1.0f - s)));
  }
}

template <class T>
__global__ void add_kernel(T* out, const T* a, const T* b, i64 n) {
  GPT_FOR_EACH(i, n) out[i] = from_float<T>(to_float(a[i]) + to_float(b[i]));
}

template <class T>
__global__ void add_bias_kernel(T* out, const T* bias, i64 rows, i64 cols, i64 ld) {
  GPT_FOR_EACH(i, rows * cols) {
    const i64 row = i / cols, col = i % cols;
    T& o = out[row * ld + col];
    o = from_float<T>(to_float(o) + to_float(bias[col]));
  }
}

// The keep test is the CPU backend's exactly (rng::uniform of the element index), so a run's
// masks do not depend on the backend.
template <class T>
__global__ void dropout_kernel(T* out, const T* x, i64 n, double p, float keep_scale, std::uint64_t key) {
  GPT_FOR_EACH(i, n) {
    const bool keep = rng::uniform(key, static_cast<std::uint64_t>(i)) >= p;
    out[i] = from_float<T>(keep ? to_float(x[i]) * keep_scale : 0.0f);
  }
}

template <class D, class S>
__global__ void convert_kernel(D* dst, const S* src, i64 n) {
  GPT_FOR_EACH(i, n) dst[i] = from_float<D>(to_float(src[i]));
}

__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, i64 n, float b1, float b2,
                             float step_size, float inv_sqrt_bc2, float decay, float eps, float grad_scale) {
  GPT_FOR_EACH(i, n) {
    const float g = grad[i] * grad_scale;
    const float mi = b1 * m[i] + (1.0f - b1) * g;
    const float vi = b2 * v[i] + (1.0f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] * decay - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
  }
}

#undef GPT_FOR_EACH

template <class T, class F>
void pointwise(T* out, const T* x, i64 n, F f, cudaStream_t stream) {
  constexpr int N = kPack16<T>;
  if (n % N == 0 && aligned16(out) && aligned16(x)) {
    launch(pointwise_kernel<T, N, F>, blocks_for(n / N, kThreads), kThreads, 0, stream, out, x, n / N, f);
  } else {
    launch(pointwise_kernel<T, 1, F>, blocks_for(n, kThreads), kThreads, 0, stream, out, x, n, f);
  }
}
template <class T, class G>
void pointwise_backward(T* dx, const T* dout, const T* x, i64 n, G grad, cudaStream_t stream) {
  constexpr int N = kPack16<T>;
  if (n % N == 0 && aligned16(dx) && aligned16(dout) && aligned16(x)) {
    launch(pointwise_backward_kernel<T, N, G>, blocks_for(n / N, kThreads), kThreads, 0, stream, dx, dout, x, n / N,
           grad);
  } else {
    launch(pointwise_backward_kernel<T, 1, G>, blocks_for(n, kThreads), kThreads, 0, stream, dx, dout, x, n, grad);
  }
}

}  // namespace

template <class T>
void gelu_forward(T* out, const T* x, i64 n, cudaStream_t stream) {
  pointwise(out, x, n, Gelu{}, stream);
}
template <class T>
void gelu_backward(T* dx, const T* dout, const T* x, i64 n, cudaStream_t stream) {
  pointwise_backward(dx, dout, x, n, GeluGrad{}, stream);
}
template <class T>
void relu2_forward(T* out, const T* x, i64 n, cudaStream_t stream) {
  pointwise(out, x, n, Relu2{}, stream);
}
template <class T>
void relu2_backward(T* dx, const T* dout, const T* x, i64 n, cudaStream_t stream) {
  pointwise_backward(dx, dout, x, n, Relu2Grad{}, stream);
}
template <class T>
void softcap(T* out, const T* x, i64 n, float cap, cudaStream_t stream) {
  pointwise(out, x, n, Softcap{cap, 1.0f / cap}, stream);
}
template <class T>
void swiglu_forward(T* out, const T* x, i64 N, i64 H, cudaStream_t stream) {
  launch(swiglu_forward_kernel<T>, blocks_for(N * H, kThreads), kThreads, 0, stream, out, x, N, H);
}
template <class T>
void swiglu_backward(T* dx, const T* dout, const T* x, i64 N, i64 H, cudaStream_t stream) {
  launch(swiglu_backward_kernel<T>, blocks_for(N * H, kThreads), kThreads, 0, stream, dx, dout, x, N, H);
}
template <class T>
void add(T* out, const T* a, const T* b, i64 n, cudaStream_t stream) {
  launch(add_kernel<T>, blocks_for(n, kThreads), kThreads, 0, stream, out, a, b, n);
}
template <class T>
void add_bias(T* out, const T* bias, i64 rows, i64 cols, i64 ld, cudaStream_t stream) {
  launch(add_bias_kernel<T>, blocks_for(rows * cols, kThreads), kThreads, 0, stream, out, bias, rows, cols, ld);
}
template <class T>
void dropout(T* out, const T* x, i64 n, double p, std::uint64_t key, cudaStream_t stream) {
  launch(dropout_kernel<T>, blocks_for(n, kThreads), kThreads, 0, stream, out, x, n, p,
         static_cast<float>(1.0 / (1.0 - p)), key);
}
template <class D, class S>
void convert(D* dst, const S* src, i64 n, cudaStream_t stream) {
  launch(convert_kernel<D, S>, blocks_for(n, kThreads), kThreads, 0, stream, dst, src, n);
}

void adamw(float* param, const float* grad, float* m, float* v, i64 n, const AdamWStep& s, cudaStream_t stream) {
  const double t = static_cast<double>(s.step);
  launch(adamw_kernel, blocks_for(n, kThreads), kThreads, 0, stream, param, grad, m, v, n, static_cast<float>(s.beta1),
         static_cast<float>(s.beta2), static_cast<float>(s.lr / (1.0 - std::pow(s.beta1, t))),
         static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(s.beta2, t))),
         static_cast<float>(1.0 - s.lr * s.weight_decay), static_cast<float>(s.eps), static_cast<float>(s.grad_scale));
}

#define GPT_INSTANTIATE(T)                                                          \
  template void gelu_forward<T>(T*, const T*, i64, cudaStream_t);                   \
  template void gelu_backward<T>(T*, const T*, const T*, i64, cudaStream_t);        \
  template void relu2_forward<T>(T*, const T*, i64, cudaStream_t);                  \
  template void relu2_backward<T>(T*, const T*, const T*, i64, cudaStream_t);       \
  template void softcap<T>(T*, const T*, i64, float, cudaStream_t);                 \
  template void swiglu_forward<T>(T*, const T*, i64, i64, cudaStream_t);            \
  template void swiglu_backward<T>(T*, const T*, const T*, i64, i64, cudaStream_t); \
  template void add<T>(T*, const T*, const T*, i64, cudaStream_t);                  \
  template void add_bias<T>(T*, const T*, i64, i64, i64, cudaStream_t);             \
  template void dropout<T>(T*, const T*, i64, double, std::uint64_t, cudaStream_t);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(bf16)
#undef GPT_INSTANTIATE
template void convert<float, float>(float*, const float*, i64, cudaStream_t);
template void convert<float, bf16>(float*, const bf16*, i64, cudaStream_t);
template void convert<bf16, float>(bf16*, const float*, i64, cudaStream_t);
template void convert<bf16, bf16>(bf16*, const bf16*, i64, cudaStream_t);

}  // namespace gpt::cuda
