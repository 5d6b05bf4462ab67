// config_reference(): the key table of run_config.cpp rendered as Markdown, one table per section.
#include <sstream>
#include <string>
#include <string_view>

#include "train/run_config.h"

namespace gpt {

namespace {

// A table cell: '|' would end the cell, even inside backticks.
std::string cell(std::string_view text) {
  std::string out;
  for (const char ch : text) {
    if (ch == '|') out += '\\';
    out += ch;
  }
  return out;
}

std::string code(std::string_view text) {
  std::string out = "`";
  out += cell(text);
  out += '`';
  return out;
}

// Ranges and values as code, without the "in " of the loader's messages ("in [0, 1)");
// descriptive text ("any string") stays prose.
std::string allowed_cell(const ConfigKeyDoc& key) {
  std::string_view allowed = key.allowed;
  if (allowed.starts_with("in ")) allowed.remove_prefix(3);
  const bool values = key.type == "integer" || key.type == "float" || allowed.starts_with('"');
  return values ? code(allowed) : cell(allowed);
}

// A stored default is TOML text, shown as code; a derived one is prose ("min(50257, vocab_size)").
std::string default_cell(const ConfigKeyDoc& key) {
  return key.default_is_derived ? cell(key.default_value) : code(key.default_value);
}

}  // namespace

std::string config_reference() {
  std::ostringstream md;
  std::string section;
  for (const ConfigKeyDoc& key : config_key_docs()) {
    const std::string key_section = key.name.substr(0, key.name.find('.'));
    if (key_section != section) {
      section = key_section;
      md << (md.tellp() > 0 ? "\n" : "") << "### [" << section << "]\n\n"
         << "| key | type | default | allowed | may change on resume | description |\n"
         << "| --- | --- | --- | --- | --- | --- |\n";
    }
    md << "| " << code(key.name) << " | " << key.type << " | " << default_cell(key) << " | " << allowed_cell(key)
       << " | " << (key.may_change_on_resume ? "yes" : "no") << " | " << cell(key.description) << " |\n";
  }
  return md.str();
}

}  // namespace gpt
