#pragma once
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), which TensorBoard's record format
// (TFRecord) requires. Debian 12 packages no CRC-32C library, and a table-driven one is this short.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gpt {

namespace detail {
constexpr std::array<std::uint32_t, 256> crc32c_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
inline constexpr std::array<std::uint32_t, 256> kCrc32cTable = crc32c_table();
}  // namespace detail

constexpr std::uint32_t crc32c(std::string_view bytes) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (const char byte : bytes) c = detail::kCrc32cTable[(c ^ static_cast<std::uint8_t>(byte)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

}  // namespace gpt
