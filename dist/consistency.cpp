#include "dist/consistency.h"

#include <cstring>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "core/fnv.h"

namespace gpt {

std::uint64_t parameter_checksum(const GPT& model) {
  const Tensor params = model.params();
  std::vector<std::uint64_t> words((params.bytes() + 7) / 8, 0);
  model.backend().download_bytes(words.data(), params.ptr, params.bytes());
  // FNV-1a over 64-bit words: order-sensitive, and fast enough for 500 MB at a checkpoint.
  return fnv1a::words(words);
}

void check_same_parameters(Communicator& comm, const GPT& model, const std::string& when) {
  const std::vector<std::uint64_t> sums = comm.all_gather_u64(parameter_checksum(model));
  std::ostringstream differ;
  for (std::size_t r = 1; r < sums.size(); ++r)
    if (sums[r] != sums[0]) differ << (differ.tellp() > 0 ? ", " : "") << r;
  if (differ.tellp() == 0) return;
  std::ostringstream message;
  message << "parameters differ across ranks " << when << ": rank(s) " << differ.str()
          << " disagree with rank 0 (checksum " << std::hex << sums[0] << ")";
  throw std::runtime_error(message.str());
}

}  // namespace gpt
