#include "data/tokenizer/byte_level.h"

namespace gpt::byte_level {

std::array<char32_t, 256> byte_to_code_point() {
  std::array<char32_t, 256> map{};
  char32_t next_stand_in = 0x100;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    map[b] = printable ? static_cast<char32_t>(b) : next_stand_in++;
  }
  return map;
}

}  // namespace gpt::byte_level
