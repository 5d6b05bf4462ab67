#pragma once
// Rewrites the seal of a checkpoint file (train/checkpoint/checkpoint_seal.h: the first line of its
// 512-byte user block, "GPTCKPT1 <XXH64 of the bytes after the block> <size>") after a test
// changed its bytes on purpose, so that the checks behind the seal (HDF5's structure, the
// checksum, the trainer's own) see the change. Written from the format's description, not from
// the writer's code.
#if GPT_TEST_HAVE_HDF5  // libxxhash comes with the checkpoint dependencies
#include <xxhash.h>
#endif

#include <cstdio>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace gpt::test {

inline void reseal(const std::filesystem::path& path) {
#if !GPT_TEST_HAVE_HDF5
  throw std::runtime_error("reseal " + path.string() + ": this build has no checkpoints");
#else
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  constexpr std::size_t kBlock = 512;
  if (bytes.size() < kBlock || bytes.compare(0, 9, "GPTCKPT1 ") != 0)
    throw std::runtime_error("reseal: " + path.string() + " is not a sealed checkpoint");
  char line[64];
  std::snprintf(line, sizeof line, "GPTCKPT1 %016llx %zu\n",
                static_cast<unsigned long long>(XXH64(bytes.data() + kBlock, bytes.size() - kBlock, 0)), bytes.size());
  std::string block(line);
  block.resize(kBlock, '\0');
  bytes.replace(0, kBlock, block);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
#endif
}

}  // namespace gpt::test
