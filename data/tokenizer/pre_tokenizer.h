#pragma once
// GPT-2's pre-tokenization: text is cut into pieces (words with their leading space, numbers,
// punctuation runs, whitespace) by GPT-2's regular expression, run by PCRE2 with Unicode
// properties, JIT-compiled where PCRE2 supports it; BPE then works within each piece.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace gpt {

class PreTokenizer {
 public:
  // GPT-2's pattern, with \s as Unicode's White_Space property (see pre_tokenizer.cpp).
  static const char* const pattern;

  PreTokenizer();  // compiles the pattern; throws std::runtime_error if PCRE2 refuses it
  // Copies share the compiled pattern and get their own match state: one per thread.
  PreTokenizer(const PreTokenizer& other);
  PreTokenizer& operator=(const PreTokenizer&) = delete;
  ~PreTokenizer();

  // The end of the piece that starts at `start` (< text.size()) of `text`, which must be valid
  // UTF-8 (checked by the caller once for the whole text: PCRE2 is told not to check again),
  // with `start` on a character boundary.
  std::size_t piece_end(std::string_view text, std::size_t start);

  bool jit() const;  // whether PCRE2's JIT compiler is in use
  // The Unicode version of PCRE2's character tables ("14.0.0" in Debian 12's PCRE2 10.42):
  // letters and numbers assigned by later versions are "other" to the pattern.
  static std::string unicode_version();

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> compiled_;
  void* match_data_ = nullptr;  // pcre2_match_data_8*, kept out of this header
};

}  // namespace gpt
