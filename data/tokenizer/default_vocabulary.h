#pragma once
// Where the tools look for GPT-2's vocabulary (encoder.json, vocab.bpe) when not told: the folder
// $GPT_DATA_DIR/gpt2 when that variable is set, else the repository's data/sample/gpt2.
#include <filesystem>

namespace gpt {

std::filesystem::path default_vocabulary_dir();

}  // namespace gpt
