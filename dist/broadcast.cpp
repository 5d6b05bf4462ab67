#include "dist/broadcast.h"

#include <algorithm>
#include <cstdint>

namespace gpt {

void broadcast_text(Communicator& comm, std::string& text) {
  std::uint64_t length = text.size();
  comm.broadcast_bytes(&length, sizeof length, 0);
  text.resize(length);
  if (length > 0) comm.broadcast_bytes(text.data(), length, 0);
}

void broadcast_floats(Communicator& comm, float* data, std::size_t count) {
  constexpr std::size_t kPiece = std::size_t{1} << 28;  // 1 GiB
  for (std::size_t at = 0; at < count; at += kPiece)
    comm.broadcast_bytes(data + at, std::min(kPiece, count - at) * sizeof(float), 0);
}

}  // namespace gpt
