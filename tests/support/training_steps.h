#pragma once
// A few AdamW steps of a small GPT on one fixed batch, on any backend: the training-level checks
// of the CUDA backend (tests/gpu) and of its kernels under the emulator (tests/emulated).
#include <vector>

#include "core/model/gpt.h"
#include "tests/support/model_test_util.h"
#include "train/optimizer.h"

namespace gpt::test {

inline ModelConfig step_model() {
  ModelConfig c = tiny_model(Activation::gelu, true, true);
  c.vocab_size = 128;
  c.real_vocab_size = 120;
  c.n_embd = 64;
  c.n_head = 4;
  c.block_size = 32;
  return c;
}

// Losses of `steps` AdamW steps on one batch of 4 sequences of seq_len, and the final parameters.
inline std::vector<double> train_losses(Backend& be, int steps, std::vector<float>* params, std::int64_t seq_len = 32,
                                        const ModelConfig& config = step_model()) {
  GPT model(config, be);
  model.init_weights(3);
  OptimConfig optim;
  optim.lr = 3e-3;
  AdamW adamw(model, optim);
  const HostBatch batch = random_batch(4, seq_len, 120, 5);
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    model.zero_grads();
    losses.push_back(model.forward(batch.view(), {.loss_scale = 1.0 / 128}));
    model.backward();
    adamw.step(optim.lr, 1.0);
  }
  if (params) {
    params->resize(static_cast<std::size_t>(model.params().numel()));
    be.download(model.params(), params->data());
  }
  return losses;
}

// One AdamW step of `config` on the fixed batch of train_losses: the loss, the gradients the
// optimizer is given, and the parameters it leaves, with the table naming their tensors.
struct OneStep {
  double loss = 0;
  std::vector<ParamInfo> tensors;
  std::vector<float> grads, params;
};

inline OneStep one_step(Backend& be, const ModelConfig& config = step_model()) {
  GPT model(config, be);
  model.init_weights(3);
  OptimConfig optim;
  optim.lr = 3e-3;
  AdamW adamw(model, optim);
  const HostBatch batch = random_batch(4, 32, 120, 5);
  OneStep step;
  step.tensors = model.table().entries();
  model.zero_grads();
  step.loss = model.forward(batch.view(), {.loss_scale = 1.0 / 128});
  model.backward();
  step.grads.resize(static_cast<std::size_t>(model.grads().numel()));
  be.download(model.grads(), step.grads.data());
  adamw.step(optim.lr, 1.0);
  step.params.resize(static_cast<std::size_t>(model.params().numel()));
  be.download(model.params(), step.params.data());
  return step;
}

}  // namespace gpt::test
