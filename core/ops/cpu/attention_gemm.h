#pragma once
// Causal multi-head attention as batched matrix products (strided_matmul.h), one product over
// every (batch, head) pair at a time: scores = scale · Q·Kᵀ, a causal softmax in fp32, out = P·V;
// the backward's four products likewise. fp32 and bf16 (the operands in bf16 and fp32
// accumulation, the probabilities and their gradients rounded to bf16 for the products, as the
// CUDA backend's flash attention rounds them for its tensor cores). The causal half above the
// diagonal is computed and masked, as PyTorch's math attention does: the products run at the
// matmul kernels' rate, which loops over the triangle do not reach (attention.h, kept for fp64).
// The probabilities (B, NH, T, T) are saved in fp32 for the backward, as attention.h saves them.
#include <cstdint>
#include <vector>

#include "core/ops/cpu/strided_matmul.h"

namespace gpt::cpu {

// Working space a backend keeps between calls so each step reuses, not reallocates, it.
struct AttentionScratch {
  std::vector<float> heads;            // q, k, v (and gradients) copied head-major, in either type
  std::vector<float> scores;           // the backward's dP and dS, fp32
  std::vector<std::uint16_t> rounded;  // P or dS in bf16 for the products (bf16 only)
};

// out (B,T,C) and qkv (B,T,3C) in `type`; probs (B,NH,T,T) fp32.
void attention_forward_gemm(int threads, Elem type, void* out, float* probs, const void* qkv, std::int64_t B,
                            std::int64_t T, std::int64_t C, std::int64_t NH, AttentionScratch& scratch);

// Overwrites dqkv (B,T,3C); dout (B,T,C); both in `type`.
void attention_backward_gemm(int threads, Elem type, void* dqkv, const void* dout, const void* qkv, const float* probs,
                             std::int64_t B, std::int64_t T, std::int64_t C, std::int64_t NH,
                             AttentionScratch& scratch);

}  // namespace gpt::cpu
