#include "data/tokenizer/default_vocabulary.h"

#include <cstdlib>

namespace gpt {

std::filesystem::path default_vocabulary_dir() {
  if (const char* data = std::getenv("GPT_DATA_DIR"); data != nullptr && *data != '\0')
    return std::filesystem::path(data) / "gpt2";
  return GPT_DEFAULT_VOCAB_DIR;
}

}  // namespace gpt
