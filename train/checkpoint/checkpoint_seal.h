#pragma once
// The seal of a checkpoint file: its first 512 bytes are an HDF5 user block (HDF5 skips it; h5py
// and h5dump read the file as usual) holding one ASCII line "GPTCKPT1 <16 hex digits> <file
// size>\n", NUL-padded, the digits XXH64 (seed 0) of every byte after the block. A file is
// checked against it before HDF5 parses anything, so a torn or damaged file never reaches HDF5's
// parser, which has memory bugs on damaged metadata (libhdf5 1.10.8 overflows a heap buffer on a
// damaged attribute name: found by CheckpointFuzz under ASan). It also gives ranks a cheap
// identity to compare (checkpoint_identity). Files written before the seal existed (HDF5's
// signature at byte 0) are still read, with only the checksum (checkpoint_checksum.h) to protect
// them. Internal to gpt_checkpoint.
#include <cstddef>
#include <filesystem>
#include <string>

namespace gpt {

inline constexpr std::size_t kUserBlock = 512;         // the seal's line starts the file's user block
inline constexpr const char* kSealMagic = "GPTCKPT1";  // why: a torn file never reaches HDF5's parser

// What is wrong with the seal of the file at `path`, checked before HDF5 sees it; empty when it
// holds, or when the file predates the seal (HDF5's signature at byte 0).
std::string seal_problem(const std::filesystem::path& path);

// Writes the seal line into the user block of the finished (closed) file at `path`.
// std::runtime_error naming the file on failure.
void seal_file(const std::filesystem::path& path);

}  // namespace gpt
