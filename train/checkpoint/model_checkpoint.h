#pragma once
// The model's side of a checkpoint file, shared by the trainer (resume, init-from) and the tools
// that only read a model (generate): the layout version, and the parameters checked and loaded.
#include <cstdint>
#include <string>
#include <vector>

#include "core/model/gpt.h"
#include "train/checkpoint/checkpoint_file.h"

namespace gpt {

// The layout of the files this code writes and reads (the root's format_version attribute).
constexpr std::int64_t kCheckpointFormatVersion = 1;

// CheckpointError for a file of another layout version, before anything in it is interpreted.
void check_checkpoint_format(const CheckpointFile& file);

// Tensor `path` of the file, checked to have `shape` and to be finite (and not negative, with
// non_negative: Adam's second moments): a file that passed its checksum can still have been written
// wrong, and a NaN loaded here would only show up steps later. CheckpointError otherwise.
const std::vector<float>& checked_tensor(const CheckpointFile& file, const std::string& path,
                                         const std::vector<std::int64_t>& shape, bool non_negative = false);

// Copies params/<name> of every tensor of the model's table into its master parameters and
// refreshes the compute weights. Everything is checked before the first upload, so a refused file
// leaves the model as it was: ConfigError for a tensor missing or shaped otherwise than the model's
// config says, CheckpointError for damaged values.
void load_model_parameters(GPT& model, const CheckpointFile& file);

}  // namespace gpt
