#include "train/checkpoint/checkpoint_checksum.h"

#include <algorithm>
#include <bit>
#include <variant>

#if GPT_HAVE_HDF5
#include "train/checkpoint/xxh64.h"
#endif

namespace gpt {

static_assert(std::endian::native == std::endian::little, "checkpoint bytes are hashed as little-endian");

std::string normalize_group(const std::string& g) {
  std::string out = "/";
  std::size_t i = 0;
  while (i < g.size()) {
    while (i < g.size() && g[i] == '/') ++i;
    const std::size_t j = std::min(g.find('/', i), g.size());
    if (j > i) {
      if (out.size() > 1) out += '/';
      out.append(g, i, j - i);
    }
    i = j;
  }
  return out;
}

#if GPT_HAVE_HDF5

std::string checksum_hex(const std::vector<TensorView>& tensors, const std::map<std::string, Attrs>& attrs) {
  Xxh64 h;
  for (const TensorView& t : tensors) {
    h.u8('T');
    h.str(*t.path);
    h.u64(t.shape->size());
    for (std::int64_t d : *t.shape) h.u64(static_cast<std::uint64_t>(d));
    h.u64(t.count * sizeof(float));
    h.update(t.data, t.count * sizeof(float));
  }
  for (const auto& [group, group_attrs] : attrs) {
    for (const auto& [name, value] : group_attrs) {
      if (group == "/" && name == kChecksumAttr) continue;
      h.u8('A');
      h.str(group);
      h.str(name);
      if (const auto* i = std::get_if<std::int64_t>(&value)) {
        h.u8('i');
        h.u64(static_cast<std::uint64_t>(*i));
      } else if (const auto* d = std::get_if<double>(&value)) {
        h.u8('d');
        h.u64(std::bit_cast<std::uint64_t>(*d));
      } else {
        h.u8('s');
        h.str(std::get<std::string>(value));
      }
    }
  }
  return hex16(h.digest());
}

#endif  // GPT_HAVE_HDF5

}  // namespace gpt
