#pragma once
// Rank 0's host data to every rank, for what only rank 0 reads (a chosen checkpoint, its
// failure, its moments when other ranks cannot see the file). Collective: every rank calls.
#include <cstddef>
#include <string>

#include "dist/communicator.h"

namespace gpt {

// Rank 0's `text` replaces every other rank's.
void broadcast_text(Communicator& comm, std::string& text);

// Rank 0's `count` floats to every rank, in pieces a host collective takes (MPI counts are ints).
void broadcast_floats(Communicator& comm, float* data, std::size_t count);

}  // namespace gpt
