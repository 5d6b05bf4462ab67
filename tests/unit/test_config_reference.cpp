// Tests for the config reference: every key the loader accepts is documented (with a default the
// loader accepts), every key of the shipped configs is documented, and the Markdown is stable.
#include <gtest/gtest.h>

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "train/run_config.h"

#ifndef GPT_CONFIGS_DIR
#error "GPT_CONFIGS_DIR must be defined: the repository's configs/ folder"
#endif

namespace gpt {
namespace {

namespace fs = std::filesystem;

// "section.key" for every key of a TOML document of sections.
std::set<std::string> keys_of(const toml::table& doc) {
  std::set<std::string> names;
  for (auto&& [section, node] : doc) {
    const toml::table* table = node.as_table();
    if (!table) {
      names.insert(std::string(section.str()));
      continue;
    }
    for (auto&& [key, value] : *table) names.insert(std::string(section.str()) + "." + std::string(key.str()));
  }
  return names;
}

std::set<std::string> documented_keys() {
  std::set<std::string> names;
  for (const ConfigKeyDoc& doc : config_key_docs()) names.insert(doc.name);
  return names;
}

const std::string kMinimal = "[data]\ntrain = \"train.bin\"\n";

TEST(RunConfigReference, EveryKeyTheLoaderAcceptsIsDocumented) {
  // The resolved TOML lists every key the loader accepts (a resume reads it back).
  const RunConfig config = parse_run_config(kMinimal, "config.toml", "/exp", {});
  const std::set<std::string> accepted = keys_of(toml::parse(config.resolved_toml));
  ASSERT_GT(accepted.size(), 40u);
  EXPECT_EQ(accepted, documented_keys());

  const std::string reference = config_reference();
  for (const ConfigKeyDoc& doc : config_key_docs()) {
    SCOPED_TRACE(doc.name);
    EXPECT_NE(reference.find("| `" + doc.name + "` |"), std::string::npos);
    EXPECT_FALSE(doc.type.empty());
    EXPECT_FALSE(doc.allowed.empty());
    EXPECT_FALSE(doc.default_value.empty());
    EXPECT_GE(doc.description.size(), 10u);
    EXPECT_EQ(doc.may_change_on_resume, may_change_on_resume(doc.name));
  }
}

TEST(RunConfigReference, DocumentedDefaultsAreAccepted) {
  for (const ConfigKeyDoc& doc : config_key_docs()) {
    if (doc.default_is_derived) continue;
    SCOPED_TRACE(doc.name);
    EXPECT_NO_THROW(parse_run_config(kMinimal, "config.toml", "/exp", {"--" + doc.name + "=" + doc.default_value}));
  }
}

TEST(RunConfigReference, DefaultsAreTheLoadersOwn) {
  const std::vector<ConfigKeyDoc> docs = config_key_docs();
  auto find = [&](const std::string& name) {
    const auto it = std::find_if(docs.begin(), docs.end(), [&](const ConfigKeyDoc& d) { return d.name == name; });
    EXPECT_NE(it, docs.end()) << name;
    return it == docs.end() ? ConfigKeyDoc{} : *it;
  };
  const RunConfig config = parse_run_config(kMinimal, "config.toml", "/exp", {});
  EXPECT_EQ(find("model.vocab_size").default_value, std::to_string(config.model.vocab_size));
  EXPECT_EQ(find("train.micro_batch").default_value, std::to_string(config.train.micro_batch));
  EXPECT_EQ(find("log.sample_prompt").default_value, "\"" + config.log.sample_prompt + "\"");
  EXPECT_EQ(find("train.threads").allowed, "in [0, 1024]");
  EXPECT_EQ(find("optim.schedule").allowed, "\"cosine\", \"linear\", \"constant\", \"wsd\"");
  EXPECT_TRUE(find("model.real_vocab_size").default_is_derived);
  EXPECT_TRUE(find("run.dir").may_change_on_resume);
  EXPECT_FALSE(find("train.seed").may_change_on_resume);
}

TEST(RunConfigReference, EveryKeyOfTheShippedConfigsIsDocumented) {
  const std::set<std::string> documented = documented_keys();
  int configs = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(GPT_CONFIGS_DIR)) {
    if (entry.path().extension() != ".toml") continue;
    ++configs;
    for (const std::string& key : keys_of(toml::parse_file(entry.path().string()))) {
      EXPECT_TRUE(documented.count(key)) << key << " in " << entry.path();
    }
  }
  EXPECT_GE(configs, 3);
}

TEST(RunConfigReference, MarkdownIsStableWithATablePerSection) {
  const std::string reference = config_reference();
  EXPECT_EQ(reference, config_reference());
  for (const char* section : {"model", "data", "train", "optim", "eval", "checkpoint", "dist", "run", "log"}) {
    EXPECT_NE(reference.find(std::string("### [") + section + "]\n\n| key | type | default |"), std::string::npos)
        << section;
  }
  // A '|' in a cell is escaped, or it would split the row.
  EXPECT_NE(reference.find("`<\\|endoftext\\|>`"), std::string::npos);
  EXPECT_NE(reference.find("| `train.threads` | integer | `0` | `[0, 1024]` | yes | CPU threads per rank;"),
            std::string::npos);
}

}  // namespace
}  // namespace gpt
