#include "train/observe/run_summary.h"

#include <cstdio>

#include "core/model/flops.h"

namespace gpt {
namespace {

std::string format(const char* fmt, double v) {
  char text[64];
  std::snprintf(text, sizeof text, fmt, v);
  return text;
}

std::string count_text(std::int64_t n) {
  return n >= 1'000'000 ? format("%.2fM", static_cast<double>(n) / 1e6) : format("%.1fk", static_cast<double>(n) / 1e3);
}

std::string flop_text(double flops) {
  return flops >= 1e9 ? format("%.2f GFLOP", flops / 1e9) : format("%.1f MFLOP", flops / 1e6);
}

std::string mib_text(std::size_t bytes) {
  return format("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
}

std::string plural(std::int64_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

std::int64_t non_embedding_parameters(const ParamTable& table) {
  std::int64_t n = table.parameter_count();
  for (const char* name : {"wte.weight", "wpe.weight"})
    if (const ParamInfo* p = table.find(name)) n -= p->numel;
  return n;
}

std::string run_summary(const RunConfig& config, const GPT& model, std::size_t optimizer_state_bytes, bool zero_sharded,
                        const Communicator& comm, const PeakFlops& peak) {
  const TrainConfig& t = config.train;
  const int world = comm.world_size();
  const std::int64_t accum = t.accumulation_steps(world);
  std::string s;
  s += "model: " + count_text(model.table().parameter_count()) + " parameters, " +
       count_text(non_embedding_parameters(model.table())) + " without the embeddings; " +
       flop_text(training_flops_per_token(config.model, t.seq_len)) + " per token trained (seq_len " +
       std::to_string(t.seq_len) + ")\n";
  s += "run: " + plural(world, "rank") + " (" + comm.name() + "), " +
       (accum == 1 ? std::string("1 micro-batch") : std::to_string(accum) + " micro-batches") + " of " +
       std::to_string(t.micro_batch) + "x" + std::to_string(t.seq_len) + " per rank, " +
       std::to_string(t.batch_tokens) + " tokens per step, " + std::to_string(t.max_steps) + " steps; folder " +
       config.run.dir.string() + "\n";
  const std::string backend = model.backend().name(), device = model.backend().device_name();
  // The CUDA backend's name already names its device.
  s += "device: " + backend + (backend.find(device) == std::string::npos ? " on " + device : "") + "; peak for MFU " +
       peak.source + "\n";
  s += "memory: per rank " + mib_text(model.parameter_buffer_bytes()) + " parameters and gradients, " +
       mib_text(optimizer_state_bytes) + " AdamW moments" + (zero_sharded ? " (its ZeRO-1 shard)" : "") + ", " +
       mib_text(model.activation_bytes(t.micro_batch, t.seq_len)) + " activations\n";
  return s;
}

}  // namespace gpt
