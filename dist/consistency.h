#pragma once
// Every rank must hold the same parameters: a checksum of the flat buffer compared across ranks
// at start and at every checkpoint turns silent divergence into an error.
#include <cstdint>
#include <string>

#include "core/model/gpt.h"
#include "dist/communicator.h"

namespace gpt {

// 64-bit hash of the bytes of the model's master parameters (the whole flat buffer).
std::uint64_t parameter_checksum(const GPT& model);

// Throws std::runtime_error naming the ranks whose parameters differ from rank 0's; `when`
// ("at start", "after step 40") goes into the message.
void check_same_parameters(Communicator& comm, const GPT& model, const std::string& when);

}  // namespace gpt
