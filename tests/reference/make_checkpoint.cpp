// Helper for tests/reference/check_checkpoint.py: writes a checkpoint with known content, or
// verifies one with our reader.
//   make_checkpoint write PATH    the content check_checkpoint.py expects
//   make_checkpoint verify PATH   exit 0 and "ok" when it reads and verifies, else 1 and the error
// Exit code 77 when this build has no HDF5.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "train/checkpoint/checkpoint_file.h"

int main(int argc, char** argv) {
  if (argc != 3 || (std::string(argv[1]) != "write" && std::string(argv[1]) != "verify")) {
    std::fprintf(stderr, "usage: %s write|verify PATH\n", argv[0]);
    return 2;
  }
  if (!gpt::checkpoints_supported()) {
    std::printf("SKIP: this build has no HDF5\n");
    return 77;
  }
  const std::string mode = argv[1], path = argv[2];
  try {
    if (mode == "verify") {
      const gpt::CheckpointFile f(path);
      std::printf("ok: %zu tensors, step %lld\n", f.tensor_paths().size(),
                  static_cast<long long>(f.attr_int("/", "step")));
      return 0;
    }
    // Values are exact in float32 so the script can compare with ==.
    std::vector<float> a(6), b(4), m_a(6), v_c(24), d(12);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = 0.5f * static_cast<float>(i);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = -static_cast<float>(i);
    for (std::size_t i = 0; i < m_a.size(); ++i) m_a[i] = 100.0f + static_cast<float>(i);
    for (std::size_t i = 0; i < v_c.size(); ++i) v_c[i] = 0.25f * static_cast<float>(i) - 1.0f;
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<float>(i * i);
    const std::map<std::string, gpt::Attrs> attrs = {
        {"/",
         {{"format_version", std::int64_t{1}},
          {"step", std::int64_t{7}},
          {"tokens_seen", std::int64_t{5000000000}},
          {"world_size", std::int64_t{2}},
          {"created", "2026-01-02T03:04:05Z"},
          {"config", "[model]\nn_layer = 2\nname = \"tiny \xc3\xbc\"\n"}}},
        {"/rng", {{"seed", std::int64_t{1337}}, {"state", "0 1 2 3"}}},
        {"/data/rank0", {{"position", std::int64_t{123456}}}},
        {"/optim", {{"beta1", 0.9}, {"lr", 6e-4}}},
    };
    gpt::write_checkpoint_file(path, attrs,
                               {
                                   {"params/a", {2, 3}, a.data()},
                                   {"params/b", {4}, b.data()},
                                   {"params/h.0.attn.c_attn.weight", {1, 2, 2, 3}, d.data()},
                                   {"optim/m/a", {2, 3}, m_a.data()},
                                   {"optim/v/c", {2, 3, 4}, v_c.data()},
                               });
    std::printf("wrote %s\n", path.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
