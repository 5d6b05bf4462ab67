#pragma once
// What rank 0 says before the first step: the model's size and cost, how the batch is split, the
// device and the peak MFU is measured against, the memory each rank holds, and the run folder.
#include <string>

#include "core/model/gpt.h"
#include "dist/communicator.h"
#include "train/observe/peak_flops.h"
#include "train/run_config.h"

namespace gpt {

// Four lines, each ending in '\n', starting "model: ", "run: ", "device: " and "memory: ".
std::string run_summary(const RunConfig& config, const GPT& model, std::size_t optimizer_state_bytes, bool zero_sharded,
                        const Communicator& comm, const PeakFlops& peak);

// Parameters without the token and position embeddings (wte, wpe), as Kaplan et al. count N.
std::int64_t non_embedding_parameters(const ParamTable& table);

}  // namespace gpt
