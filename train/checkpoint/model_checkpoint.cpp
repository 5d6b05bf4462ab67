#include "train/checkpoint/model_checkpoint.h"

#include <cmath>

#include "core/errors.h"

namespace gpt {

void check_checkpoint_format(const CheckpointFile& file) {
  const std::int64_t version = file.attr_int("/", "format_version");
  if (version != kCheckpointFormatVersion)
    throw CheckpointError("checkpoint " + file.path().string() + ": attribute format_version is " +
                          std::to_string(version) + ", this program reads version " +
                          std::to_string(kCheckpointFormatVersion) +
                          (version > kCheckpointFormatVersion ? " (written by a newer version)" : ""));
}

const std::vector<float>& checked_tensor(const CheckpointFile& file, const std::string& path,
                                         const std::vector<std::int64_t>& shape, bool non_negative) {
  const std::string where = "checkpoint " + file.path().string() + ": tensor " + path;
  if (!file.has_tensor(path))
    throw CheckpointError("checkpoint " + file.path().string() + " has no tensor " + path + " that this model needs");
  if (file.shape(path) != shape)
    throw CheckpointError(where + " has shape " + shape_text(file.shape(path)) + ", its parameter " +
                          shape_text(shape) + " (a damaged file)");
  const std::vector<float>& values = file.values(path);
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]) || (non_negative && values[i] < 0))
      throw CheckpointError(where + " holds " + std::to_string(values[i]) + " at index " + std::to_string(i) +
                            " (a damaged file, or written by a diverged run)");
  return values;
}

void load_model_parameters(GPT& model, const CheckpointFile& file) {
  for (const ParamInfo& p : model.table().entries()) {
    const std::string path = "params/" + p.name;
    if (!file.has_tensor(path))
      throw ConfigError("checkpoint " + file.path().string() + " has no tensor " + p.name + " that this model needs");
    if (file.shape(path) != p.shape)
      throw ConfigError("checkpoint " + file.path().string() + ": tensor " + p.name + " has shape " +
                        shape_text(file.shape(path)) + " but the config gives " + shape_text(p.shape));
    (void)checked_tensor(file, path, p.shape);
  }
  // Alignment gaps and padding between tensors stay as they were (zero after init_weights).
  for (const ParamInfo& p : model.table().entries())
    model.backend().upload(model.param(p), file.values("params/" + p.name).data());
  model.refresh_weights();
}

}  // namespace gpt
