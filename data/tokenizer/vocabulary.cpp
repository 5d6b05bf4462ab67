#include "data/tokenizer/vocabulary.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/errors.h"
#include "data/tokenizer/byte_level.h"
#include "data/tokenizer/utf8.h"

namespace gpt {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw DataError("cannot read the GPT-2 vocabulary file " + path.string() + ": " +
                    (std::filesystem::exists(path) ? "it is not readable" : "it does not exist") +
                    " (see --vocab-dir; data/sample/gpt2 has the files)");
  }
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

std::string hex(char32_t c) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "U+%04X", static_cast<unsigned>(c));
  return buffer;
}

// Text in the byte-level alphabet back to the bytes it stands for.
class AlphabetDecoder {
 public:
  AlphabetDecoder() {
    const auto map = byte_level::byte_to_code_point();
    for (int b = 0; b < 256; ++b) byte_of_[map[b]] = static_cast<unsigned char>(b);
  }
  // nullopt names the first character outside the alphabet in `bad`.
  std::optional<std::string> bytes(std::string_view text, char32_t& bad) const {
    std::string out;
    if (utf8::first_invalid(text) != std::string_view::npos) {
      bad = 0xFFFD;
      return std::nullopt;
    }
    for (std::size_t pos = 0; pos < text.size();) {
      const char32_t c = utf8::decode_at(text, pos);
      const auto it = byte_of_.find(c);
      if (it == byte_of_.end()) {
        bad = c;
        return std::nullopt;
      }
      out += static_cast<char>(it->second);
    }
    return out;
  }

 private:
  std::unordered_map<char32_t, unsigned char> byte_of_;
};

}  // namespace

Vocabulary Vocabulary::load(const std::filesystem::path& dir) {
  const std::filesystem::path encoder_path = dir / "encoder.json", merges_path = dir / "vocab.bpe";
  const std::string encoder_text = read_file(encoder_path);
  const std::string merges_text = read_file(merges_path);
  const std::string encoder_name = encoder_path.string(), merges_name = merges_path.string();

  nlohmann::json encoder;
  try {
    encoder = nlohmann::json::parse(encoder_text);
  } catch (const nlohmann::json::parse_error& e) {
    throw DataError(encoder_name + ": not valid JSON: " + e.what());
  }
  if (!encoder.is_object() || encoder.empty()) {
    throw DataError(encoder_name + ": must be a JSON object mapping each token's text to its id");
  }

  // id -> bytes, from encoder.json.
  const std::size_t count = encoder.size();
  std::vector<std::optional<std::string>> token_bytes(count);
  const AlphabetDecoder alphabet;
  Vocabulary vocab;
  std::optional<TokenId> end_of_text;
  for (const auto& [text, value] : encoder.items()) {
    auto where = [&] { return encoder_name + ": token " + nlohmann::json(text).dump(); };
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
        value.get<std::int64_t>() >= static_cast<std::int64_t>(count)) {
      throw DataError(where() + " has id " + value.dump() + ", which is not an integer from 0 to " +
                      std::to_string(count - 1) + " (one per token)");
    }
    const auto id = value.get<TokenId>();
    if (token_bytes[id]) throw DataError(where() + " has id " + std::to_string(id) + ", which another token has too");
    if (text == end_of_text_text) {
      end_of_text = id;
      token_bytes[id] = text;
      continue;
    }
    char32_t bad = 0;
    token_bytes[id] = alphabet.bytes(text, bad);
    if (!token_bytes[id]) {
      throw DataError(where() + " has the character " + hex(bad) + ", which is not in GPT-2's byte-level alphabet");
    }
  }
  if (!end_of_text) throw DataError(encoder_name + ": has no token " + std::string(end_of_text_text));
  vocab.end_of_text_ = *end_of_text;

  vocab.offsets_.reserve(count + 1);
  vocab.by_bytes_.reserve(count);
  for (std::size_t id = 0; id < count; ++id) {
    vocab.offsets_.push_back(static_cast<std::uint32_t>(vocab.bytes_.size()));
    vocab.bytes_ += *token_bytes[id];
    if (id != *end_of_text) vocab.by_bytes_.emplace(*token_bytes[id], static_cast<TokenId>(id));
  }
  vocab.offsets_.push_back(static_cast<std::uint32_t>(vocab.bytes_.size()));

  // The ranks tiktoken derives from vocab.bpe must be encoder.json's ids: bytes first, in the
  // alphabet's order (the printable ones, then the stand-ins), then the merges in file order.
  const auto alphabet_map = byte_level::byte_to_code_point();
  std::vector<unsigned char> byte_order(256);
  for (int b = 0; b < 256; ++b) byte_order[b] = static_cast<unsigned char>(b);
  std::stable_sort(byte_order.begin(), byte_order.end(),
                   [&](unsigned char a, unsigned char b) { return alphabet_map[a] < alphabet_map[b]; });
  for (std::size_t rank = 0; rank < 256; ++rank) {
    const unsigned char byte = byte_order[rank];
    const auto found = vocab.find(std::string(1, static_cast<char>(byte)));
    if (!found || *found != rank) {
      std::string text;
      utf8::append(text, alphabet_map[byte]);
      throw DataError(encoder_name + ": the byte token " + nlohmann::json(text).dump() + " must have id " +
                      std::to_string(rank) + (found ? ", not " + std::to_string(*found) : ", but it is missing"));
    }
    vocab.byte_tokens_[byte] = static_cast<TokenId>(rank);
  }

  std::istringstream lines(merges_text);
  std::string line;
  std::size_t line_number = 0, merges = 0;
  while (std::getline(lines, line)) {
    ++line_number;
    if (line_number == 1) {
      if (line.rfind("#version", 0) != 0) {
        throw DataError(merges_name + ": line 1 is not a '#version' line: this is not a GPT-2 vocab.bpe");
      }
      continue;
    }
    if (line.empty()) continue;
    const std::string where = merges_name + ": line " + std::to_string(line_number);
    const std::size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string::npos) {
      throw DataError(where + " is not a merge of two tokens ('LEFT RIGHT')");
    }
    char32_t bad = 0;
    const auto left = alphabet.bytes(std::string_view(line).substr(0, space), bad);
    const auto right = left ? alphabet.bytes(std::string_view(line).substr(space + 1), bad) : std::nullopt;
    if (!left || !right) throw DataError(where + " has the character " + hex(bad) + ", not in the byte-level alphabet");
    const auto left_id = vocab.find(*left), right_id = vocab.find(*right), merged = vocab.find(*left + *right);
    const TokenId rank = static_cast<TokenId>(256 + merges);
    if (!left_id || !right_id || !merged || *merged != rank) {
      throw DataError(where + " (merge rank " + std::to_string(merges) + ") does not match " + encoder_name +
                      (!left_id || !right_id ? ": a part is not a token"
                       : !merged             ? ": the merged token is not in it"
                                 : ": the merged token has id " + std::to_string(*merged) + ", but its rank makes it " +
                                       std::to_string(rank)));
    }
    ++merges;
  }
  if (256 + merges + 1 != count) {
    throw DataError(merges_name + " has " + std::to_string(merges) + " merges, so " + encoder_name + " should have " +
                    std::to_string(256 + merges + 1) + " tokens (bytes, merges, <|endoftext|>), not " +
                    std::to_string(count));
  }

  vocab.merges_.reserve(2 * count);
  // Every split of a token into two tokens is a merge (tiktoken merges by the rank of the
  // concatenation, whichever two parts make it).
  for (std::size_t id = 0; id < count; ++id) {
    if (id == *end_of_text) continue;
    const std::string_view whole = vocab.bytes(static_cast<TokenId>(id));
    for (std::size_t cut = 1; cut < whole.size(); ++cut) {
      const auto left = vocab.find(whole.substr(0, cut));
      if (!left) continue;
      if (const auto right = vocab.find(whole.substr(cut))) {
        vocab.merges_.emplace(pair_key(*left, *right), static_cast<TokenId>(id));
      }
    }
  }
  return vocab;
}

std::optional<TokenId> Vocabulary::find(std::string_view bytes) const {
  const auto it = by_bytes_.find(bytes);
  if (it == by_bytes_.end()) return std::nullopt;
  return it->second;
}

}  // namespace gpt
