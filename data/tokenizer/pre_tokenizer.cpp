#include "data/tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdexcept>
#include <string>

namespace gpt {

// GPT-2's pattern ('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)
// with \s written as \p{White_Space}: the regex engines of GPT-2's encoder (Python's regex) and of
// tiktoken (Rust's) take \s to be Unicode's White_Space property, while PCRE2's \s under UCP also
// matches U+180E MONGOLIAN VOWEL SEPARATOR, which stopped being white space in Unicode 6.3.
const char* const PreTokenizer::pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+)";

struct PreTokenizer::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer() {
  auto compiled = std::make_shared<Compiled>();
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                                 &error, &error_offset, nullptr);
  if (compiled->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    throw std::runtime_error("PCRE2 cannot compile GPT-2's pattern at offset " + std::to_string(error_offset) + ": " +
                             reinterpret_cast<const char*>(message));
  }
  // Without JIT support (some architectures) the interpreter gives the same pieces, slower.
  compiled->jit = pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE) == 0;
  compiled_ = std::move(compiled);
  match_data_ = pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
  if (match_data_ == nullptr) throw std::bad_alloc();
}

PreTokenizer::PreTokenizer(const PreTokenizer& other) : compiled_(other.compiled_) {
  match_data_ = pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
  if (match_data_ == nullptr) throw std::bad_alloc();
}

PreTokenizer::~PreTokenizer() {
  pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_));
}

bool PreTokenizer::jit() const {
  return compiled_->jit;
}

std::string PreTokenizer::unicode_version() {
  char version[32] = {};
  pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, version);
  return version;
}

std::size_t PreTokenizer::piece_end(std::string_view text, std::size_t start) {
  auto* match_data = static_cast<pcre2_match_data*>(match_data_);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const int rc =
      compiled_->jit
          ? pcre2_jit_match(compiled_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, match_data, nullptr)
          : pcre2_match(compiled_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, match_data, nullptr);
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data);
  // Every character is whitespace, a letter, a number or something else, so the pattern matches
  // at every position, and its match starts there and is not empty.
  if (rc < 0 || ovector[0] != start || ovector[1] <= start) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(rc, message, sizeof message);
    throw std::runtime_error("PCRE2 found no GPT-2 piece at byte " + std::to_string(start) + ": " +
                             (rc < 0 ? reinterpret_cast<const char*>(message) : "the match is elsewhere"));
  }
  return ovector[1];
}

}  // namespace gpt
