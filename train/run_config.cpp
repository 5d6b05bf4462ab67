#include "train/run_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string_view>
#include <utility>

#include "core/errors.h"
#include "core/number_text.h"

namespace gpt {

namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::int64_t kGpt2Vocab = 50257;

// `where` is the message prefix for one setting: "config.toml:12" or "command line: --optim.lr=abc".
[[noreturn]] void fail(const std::string& where, const std::string& message) {
  throw ConfigError(where + ": " + message);
}


// A TOML basic string: double quotes, with quotes, backslashes and control characters escaped.
std::string in_quotes(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04X", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += ch;  // UTF-8 bytes pass through unchanged
        }
    }
  }
  return out + "\"";
}

// Shortest text that reads back to the same double, marked as a TOML float ("1.0", not "1").
std::string toml_double(double v) {
  std::string s = shortest_text(v);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // 'n': inf and nan need no mark
  return s;
}

const char* type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    default:
      return "nothing";
  }
}

std::int64_t get_integer(const toml::node& node, std::string_view key, const std::string& where) {
  // A float is refused even when integral (3.0): a size written as a float is more likely a mistake.
  if (!node.is_integer()) fail(where, std::string(key) + " must be an integer, got " + type_name(node));
  return node.as_integer()->get();
}

double get_number(const toml::node& node, std::string_view key, const std::string& where) {
  // Integers are accepted for float keys: `grad_clip = 1` is as clear as `grad_clip = 1.0`.
  if (node.is_integer()) return static_cast<double>(node.as_integer()->get());
  if (!node.is_floating_point()) fail(where, std::string(key) + " must be a number, got " + type_name(node));
  return node.as_floating_point()->get();
}

bool get_boolean(const toml::node& node, std::string_view key, const std::string& where) {
  if (!node.is_boolean()) fail(where, std::string(key) + " must be a boolean (true or false), got " + type_name(node));
  return node.as_boolean()->get();
}

const std::string& get_string(const toml::node& node, std::string_view key, const std::string& where) {
  if (!node.is_string()) fail(where, std::string(key) + " must be a string, got " + type_name(node));
  return node.as_string()->get();
}

// Allowed range of a float key; the open/closed ends matter for messages like "must be in [0, 1)".
struct RealRange {
  double lo = 0.0;
  bool lo_open = false;
  double hi = kInf;
  bool hi_open = true;

  bool contains(double v) const {
    if (!std::isfinite(v)) return false;
    return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  }
  std::string describe() const {
    if (hi == kInf) return std::string(lo_open ? "> " : ">= ") + shortest_text(lo);
    return std::string("in ") + (lo_open ? "(" : "[") + shortest_text(lo) + ", " + shortest_text(hi) +
           (hi_open ? ")" : "]");
  }
};

constexpr RealRange kPositive{0.0, true};
constexpr RealRange kNonNegative{0.0, false};
constexpr RealRange kUnit{0.0, false, 1.0, true};  // [0, 1): dropout, Adam betas

// One configuration key: how to read it from a TOML node (type and range checked), how to write
// its final value back as TOML, and whether a resumed run may change it. Adding a key is one line
// in keys() below (wrapped in resumable() when a resumed run may change it).
struct Key {
  std::string_view name;  // "section.key"
  bool wants_string = false;
  bool may_change_on_resume = false;
  std::function<void(RunConfig&, const toml::node&, const std::string& where)> read{};
  std::function<void(const RunConfig&, std::ostream&)> write{};

  std::string_view section() const { return name.substr(0, name.find('.')); }
  std::string_view leaf() const { return name.substr(name.find('.') + 1); }
};

template <class S, class T>
Key integer(std::string_view name, S RunConfig::*sec, T S::*mem, std::int64_t lo, std::int64_t hi = kMaxInt) {
  Key k{name};
  k.read = [=](RunConfig& c, const toml::node& node, const std::string& where) {
    const std::int64_t v = get_integer(node, name, where);
    if (v < lo || v > hi) {
      const std::string range =
          hi == kMaxInt ? ">= " + std::to_string(lo) : "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
      fail(where, std::string(name) + " must be " + range + ", got " + std::to_string(v));
    }
    c.*sec.*mem = static_cast<T>(v);
  };
  k.write = [=](const RunConfig& c, std::ostream& os) { os << static_cast<std::int64_t>(c.*sec.*mem); };
  return k;
}

template <class S>
Key number(std::string_view name, S RunConfig::*sec, double S::*mem, RealRange range) {
  Key k{name};
  k.read = [=](RunConfig& c, const toml::node& node, const std::string& where) {
    const double v = get_number(node, name, where);
    if (!range.contains(v)) {
      fail(where, std::string(name) + " must be " + range.describe() + ", got " + shortest_text(v));
    }
    c.*sec.*mem = v;
  };
  k.write = [=](const RunConfig& c, std::ostream& os) { os << toml_double(c.*sec.*mem); };
  return k;
}

template <class S>
Key boolean(std::string_view name, S RunConfig::*sec, bool S::*mem) {
  Key k{name};
  k.read = [=](RunConfig& c, const toml::node& node, const std::string& where) {
    c.*sec.*mem = get_boolean(node, name, where);
  };
  k.write = [=](const RunConfig& c, std::ostream& os) { os << (c.*sec.*mem ? "true" : "false"); };
  return k;
}

std::string one_of(const std::vector<std::string_view>& allowed) {
  std::string s;
  for (auto a : allowed) s += (s.empty() ? "" : ", ") + in_quotes(a);
  return s;
}

// A string restricted to `allowed` values, stored as text (train.backend, train.precision).
template <class S>
Key text(std::string_view name, S RunConfig::*sec, std::string S::*mem, std::vector<std::string_view> allowed) {
  Key k{name, true};
  k.read = [=](RunConfig& c, const toml::node& node, const std::string& where) {
    const std::string& v = get_string(node, name, where);
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      fail(where, std::string(name) + " must be one of " + one_of(allowed) + "; got " + in_quotes(v));
    }
    c.*sec.*mem = v;
  };
  k.write = [=](const RunConfig& c, std::ostream& os) { os << in_quotes(c.*sec.*mem); };
  return k;
}

// A string mapped onto an enum (model.activation, optim.schedule, data.sampling).
template <class S, class E>
Key choice(std::string_view name, S RunConfig::*sec, E S::*mem, std::vector<std::pair<std::string_view, E>> options) {
  Key k{name, true};
  k.read = [=](RunConfig& c, const toml::node& node, const std::string& where) {
    const std::string& v = get_string(node, name, where);
    std::vector<std::string_view> names;
    for (const auto& [n, e] : options) {
      if (n == v) {
        c.*sec.*mem = e;
        return;
      }
      names.push_back(n);
    }
    fail(where, std::string(name) + " must be one of " + one_of(names) + "; got " + in_quotes(v));
  };
  k.write = [=](const RunConfig& c, std::ostream& os) {
    for (const auto& [n, e] : options) {
      if (e == c.*sec.*mem) os << in_quotes(n);
    }
  };
  return k;
}

// Any string (log.sample_prompt).
template <class S>
Key any_text(std::string_view name, S RunConfig::*sec, std::string S::*mem) {
  Key k{name, true};
  k.read = [=](RunConfig& c, const toml::node& node, const std::string& where) {
    c.*sec.*mem = get_string(node, name, where);
  };
  k.write = [=](const RunConfig& c, std::ostream& os) { os << in_quotes(c.*sec.*mem); };
  return k;
}

template <class S>
Key path(std::string_view name, S RunConfig::*sec, fs::path S::*mem) {
  Key k{name, true};
  k.read = [=](RunConfig& c, const toml::node& node, const std::string& where) {
    c.*sec.*mem = fs::path(get_string(node, name, where));
  };
  k.write = [=](const RunConfig& c, std::ostream& os) { os << in_quotes((c.*sec.*mem).string()); };
  return k;
}

// A key a resumed run may change from its checkpoint's config: it does not alter what the
// remaining steps compute, or the user changes it on purpose (a longer run, another schedule
// length, other hardware or ranks). Every other key is refused on resume, naming it.
Key resumable(Key k) {
  k.may_change_on_resume = true;
  return k;
}

// Every key, in the order resolved_toml lists them. Ranges here are per key; checks that involve
// several keys run at the end of parse_run_config(), once every key is read.
const std::vector<Key>& keys() {
  using R = RunConfig;
  static const std::vector<Key> table = {
      integer("model.vocab_size", &R::model, &ModelConfig::vocab_size, 1),
      integer("model.real_vocab_size", &R::model, &ModelConfig::real_vocab_size, 1),
      integer("model.block_size", &R::model, &ModelConfig::block_size, 1),
      integer("model.n_layer", &R::model, &ModelConfig::n_layer, 1),
      integer("model.n_head", &R::model, &ModelConfig::n_head, 1),
      integer("model.n_embd", &R::model, &ModelConfig::n_embd, 1),
      integer("model.mlp_hidden", &R::model, &ModelConfig::mlp_hidden, 0),
      number("model.dropout", &R::model, &ModelConfig::dropout, kUnit),
      boolean("model.bias", &R::model, &ModelConfig::bias),
      choice("model.activation", &R::model, &ModelConfig::activation,
             {{"gelu", Activation::gelu}, {"swiglu", Activation::swiglu}}),
      boolean("model.tie_embeddings", &R::model, &ModelConfig::tie_embeddings),

      resumable(path("data.train", &R::data, &DataConfig::train)),
      resumable(path("data.val", &R::data, &DataConfig::val)),
      choice("data.sampling", &R::data, &DataConfig::sampling,
             {{"random", Sampling::random}, {"epoch", Sampling::epoch}}),

      integer("train.seq_len", &R::train, &TrainConfig::seq_len, 0),
      resumable(integer("train.micro_batch", &R::train, &TrainConfig::micro_batch, 1)),
      integer("train.batch_tokens", &R::train, &TrainConfig::batch_tokens, 0),
      resumable(integer("train.max_steps", &R::train, &TrainConfig::max_steps, 1)),
      number("train.grad_clip", &R::train, &TrainConfig::grad_clip, kNonNegative),
      integer("train.seed", &R::train, &TrainConfig::seed, 0),
      resumable(text("train.backend", &R::train, &TrainConfig::backend, {"auto", "cpu", "cuda"})),
      text("train.precision", &R::train, &TrainConfig::precision, {"fp32", "bf16"}),
      resumable(integer("train.threads", &R::train, &TrainConfig::threads, 0, kMaxThreadsPerRank)),
      resumable(boolean("train.recompute_mlp", &R::train, &TrainConfig::recompute_mlp)),
      resumable(number("train.peak_tflops", &R::train, &TrainConfig::peak_tflops, kNonNegative)),

      number("optim.lr", &R::optim, &OptimConfig::lr, kPositive),
      number("optim.min_lr", &R::optim, &OptimConfig::min_lr, kNonNegative),
      integer("optim.warmup_steps", &R::optim, &OptimConfig::warmup_steps, 0),
      choice("optim.schedule", &R::optim, &OptimConfig::schedule,
             {{"cosine", Schedule::cosine}, {"linear", Schedule::linear}, {"constant", Schedule::constant}}),
      resumable(integer("optim.decay_steps", &R::optim, &OptimConfig::decay_steps, 0)),
      number("optim.weight_decay", &R::optim, &OptimConfig::weight_decay, kNonNegative),
      number("optim.beta1", &R::optim, &OptimConfig::beta1, kUnit),
      number("optim.beta2", &R::optim, &OptimConfig::beta2, kUnit),
      number("optim.eps", &R::optim, &OptimConfig::eps, kPositive),

      resumable(integer("eval.interval", &R::eval, &EvalConfig::interval, 0)),
      resumable(integer("eval.batches", &R::eval, &EvalConfig::batches, 1)),

      resumable(integer("checkpoint.interval", &R::checkpoint, &CheckpointConfig::interval, 0)),
      resumable(integer("checkpoint.keep_last", &R::checkpoint, &CheckpointConfig::keep_last, 0)),
      resumable(text("checkpoint.resume", &R::checkpoint, &CheckpointConfig::resume, {"never", "auto"})),
      resumable(text("checkpoint.broadcast_resume", &R::checkpoint, &CheckpointConfig::broadcast_resume,
                     {"auto", "always", "never"})),

      resumable(integer("dist.zero_stage", &R::dist, &DistConfig::zero_stage, 0, 1)),
      resumable(number("dist.bucket_mb", &R::dist, &DistConfig::bucket_mb, kPositive)),
      resumable(number("dist.timeout_s", &R::dist, &DistConfig::timeout_s, kPositive)),

      resumable(path("run.dir", &R::run, &RunDirConfig::dir)),

      resumable(integer("log.interval", &R::log, &LogConfig::interval, 1)),
      resumable(integer("log.sample_interval", &R::log, &LogConfig::sample_interval, 0)),
      resumable(any_text("log.sample_prompt", &R::log, &LogConfig::sample_prompt)),
      resumable(integer("log.sample_tokens", &R::log, &LogConfig::sample_tokens, 1)),
      resumable(number("log.sample_temperature", &R::log, &LogConfig::sample_temperature, kNonNegative)),
      resumable(integer("log.sample_top_k", &R::log, &LogConfig::sample_top_k, 0)),
      resumable(boolean("log.tensorboard", &R::log, &LogConfig::tensorboard)),
  };
  return table;
}

const Key* find_key(std::string_view name) {
  for (const Key& k : keys()) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

bool is_section(std::string_view name) {
  return std::any_of(keys().begin(), keys().end(), [&](const Key& k) { return k.section() == name; });
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// " (did you mean 'model.n_layer'?)" for a near miss, or the same key under another section
// ("lr" at top level, "model.lr"); empty when nothing is close.
std::string suggestion(std::string_view unknown, bool section_only) {
  std::string best;
  std::size_t best_distance = 3;
  for (const Key& k : keys()) {
    const std::string_view candidate = section_only ? k.section() : k.name;
    const std::size_t d = edit_distance(unknown, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = std::string(candidate);
    }
  }
  if (best.empty() && !section_only) {
    const std::string_view leaf = unknown.substr(unknown.find('.') + 1);  // whole name when there is no '.'
    for (const Key& k : keys()) {
      if (k.leaf() == leaf) best = std::string(k.name);
    }
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

[[noreturn]] void fail_unknown_key(const std::string& where, std::string_view name) {
  fail(where, "unknown key '" + std::string(name) + "'" + suggestion(name, false));
}

// The final node for one key and where it came from; overrides replace file entries.
struct Setting {
  const Key* key;
  const toml::node* node;
  std::string where;
  std::size_t order = 0;  // when it was set: keys are checked in file order, then override order
};

class Settings {
 public:
  void set(const std::string& name, Setting s) {
    s.order = next_order_++;
    by_name_[name] = std::move(s);
  }
  const Setting* find(std::string_view name) const {
    const auto it = by_name_.find(std::string(name));
    return it == by_name_.end() ? nullptr : &it->second;
  }
  std::vector<const Setting*> in_order() const {
    std::vector<const Setting*> out;
    for (const auto& entry : by_name_) out.push_back(&entry.second);
    std::sort(out.begin(), out.end(), [](const Setting* a, const Setting* b) { return a->order < b->order; });
    return out;
  }

 private:
  std::map<std::string, Setting> by_name_;
  std::size_t next_order_ = 0;
};

std::string location(const std::string& source, const toml::source_region& region) {
  return region.begin.line > 0 ? source + ":" + std::to_string(region.begin.line) : source;
}

void collect_file(const toml::table& doc, const std::string& source, Settings& settings) {
  for (auto&& [section_key, section_node] : doc) {
    const std::string section(section_key.str());
    const std::string where = location(source, section_key.source());
    const toml::table* section_table = section_node.as_table();
    if (!is_section(section)) {
      if (section_table) fail(where, "unknown section '[" + section + "]'" + suggestion(section, true));
      fail_unknown_key(where, section);
    }
    if (!section_table) {
      fail(where, "'" + section + "' must be a table ([" + section + "]), got " + type_name(section_node));
    }
    for (auto&& [key, node] : *section_table) {
      const std::string name = section + "." + std::string(key.str());
      const std::string key_where = location(source, key.source());
      const Key* k = find_key(name);
      if (!k) fail_unknown_key(key_where, name);
      settings.set(name, Setting{k, &node, key_where});
    }
  }
}

void collect_override(const std::string& text, std::vector<std::unique_ptr<toml::table>>& storage, Settings& settings) {
  const std::string where = "command line: " + text;
  std::string_view body = text;
  if (body.starts_with("--")) body.remove_prefix(2);
  const std::size_t eq = body.find('=');
  if (eq == std::string_view::npos) fail(where, "expected --section.key=value");
  const std::string name(body.substr(0, eq));
  const std::string value(body.substr(eq + 1));
  const Key* k = find_key(name);
  if (!k) fail_unknown_key(where, name);

  // The value is TOML (3e-4, true, "quoted"); text that is not TOML is taken as a bare string so
  // that --data.train=foo.bin works without shell-escaped quotes.
  auto parsed = std::make_unique<toml::table>();
  try {
    const std::string snippet = "v = " + value;
    *parsed = toml::parse(std::string_view(snippet), std::string_view("command line"));
  } catch (const toml::parse_error&) {
    parsed->clear();
  }
  const toml::node* node = parsed->size() == 1 ? parsed->get("v") : nullptr;
  // String keys take the raw text whenever it did not parse as a string (--run.dir=2024, --data.train=inf).
  if (!node || (k->wants_string && !node->is_string())) {
    parsed->clear();
    parsed->insert("v", value);
    node = parsed->get("v");
  }
  settings.set(name, Setting{k, node, where});
  storage.push_back(std::move(parsed));
}

std::int64_t checked_mul(std::int64_t a, std::int64_t b, const std::string& where, const std::string& what) {
  std::int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) fail(where, what + " overflows a 64-bit integer");
  return r;
}

fs::path resolve(const fs::path& p, const fs::path& base_dir) {
  if (p.empty()) return p;
  return (p.is_relative() ? base_dir / p : p).lexically_normal();
}

std::string to_resolved_toml(const RunConfig& c) {
  std::ostringstream os;
  os << "# Resolved run configuration: every key with its final value.\n";
  std::string_view section;
  for (const Key& k : keys()) {
    if (k.section() != section) {
      section = k.section();
      os << "\n[" << section << "]\n";
    }
    os << k.leaf() << " = ";
    k.write(c, os);
    os << "\n";
  }
  return os.str();
}

}  // namespace

RunConfig parse_run_config(const std::string& toml_text, const std::string& source_name, const fs::path& base_dir,
                           const std::vector<std::string>& overrides) {
  toml::table doc;
  try {
    doc = toml::parse(std::string_view(toml_text), std::string_view(source_name));
  } catch (const toml::parse_error& e) {
    fail(location(source_name, e.source()), std::string(e.description()));
  }

  Settings settings;
  std::vector<std::unique_ptr<toml::table>> override_storage;
  collect_file(doc, source_name, settings);
  for (const std::string& o : overrides) collect_override(o, override_storage, settings);

  RunConfig cfg;
  for (const Setting* s : settings.in_order()) s->key->read(cfg, *s->node, s->where);

  // Where a cross-key error points: the line of the first named key that was set, else the source.
  auto where = [&](const std::vector<std::string_view>& names) {
    for (auto n : names) {
      if (const Setting* s = settings.find(n)) return s->where;
    }
    return source_name;
  };
  auto is_set = [&](const char* name) { return settings.find(name) != nullptr; };

  // Defaults that depend on other keys.
  ModelConfig& m = cfg.model;
  TrainConfig& t = cfg.train;
  if (!is_set("model.real_vocab_size")) m.real_vocab_size = std::min(kGpt2Vocab, m.vocab_size);
  if (t.seq_len == 0) t.seq_len = m.block_size;
  const std::string micro_tokens_where = where({"train.micro_batch", "train.seq_len"});
  const std::int64_t micro_tokens =
      checked_mul(t.micro_batch, t.seq_len, micro_tokens_where, "train.micro_batch * train.seq_len");
  if (t.batch_tokens == 0) t.batch_tokens = micro_tokens;

  try {
    m.validate();
  } catch (const ConfigKeyError& e) {
    // Point at the first of the keys involved that was set, so a bad override is blamed on the
    // command line.
    fail(where(std::vector<std::string_view>(e.keys().begin(), e.keys().end())), e.what());
  }
  if (t.seq_len > m.block_size) {
    fail(where({"train.seq_len", "model.block_size"}), "train.seq_len (" + std::to_string(t.seq_len) +
                                                           ") must be <= model.block_size (" +
                                                           std::to_string(m.block_size) + ")");
  }
  if (t.batch_tokens % micro_tokens != 0) {
    fail(where({"train.batch_tokens", "train.micro_batch", "train.seq_len"}),
         "train.batch_tokens (" + std::to_string(t.batch_tokens) +
             ") must be a whole multiple of train.micro_batch * train.seq_len (" + std::to_string(t.micro_batch) +
             " * " + std::to_string(t.seq_len) + " = " + std::to_string(micro_tokens) +
             "): gradient accumulation needs a whole number of micro-batches per step");
  }
  // warmup_steps may exceed max_steps: a short trial run of a long config simply stays in warmup.
  if (cfg.optim.min_lr > cfg.optim.lr) {
    fail(where({"optim.min_lr", "optim.lr"}), "optim.min_lr (" + shortest_text(cfg.optim.min_lr) +
                                                  ") must be <= optim.lr (" + shortest_text(cfg.optim.lr) + ")");
  }
  if (t.precision == "bf16" && t.backend == "cpu") {
    fail(where({"train.precision", "train.backend"}),
         "train.precision = \"bf16\" needs train.backend = \"cuda\" or \"auto\": the CPU backend computes in fp32");
  }
  // Checked here rather than where the folder is made, which fails with a filesystem error that
  // names neither the key nor where it was set.
  if (cfg.run.dir.empty()) {
    fail(where({"run.dir"}), "run.dir must not be empty: it is the output folder (e.g. dir = \"runs/try1\")");
  }
  if (cfg.data.train.empty()) {
    fail(where({"data.train"}), "data.train is required: the token file to train on (e.g. train = \"data/train.bin\")");
  }

  cfg.data.train = resolve(cfg.data.train, base_dir);
  cfg.data.val = resolve(cfg.data.val, base_dir);
  cfg.resolved_toml = to_resolved_toml(cfg);
  return cfg;
}

bool may_change_on_resume(std::string_view key) {
  const Key* k = find_key(key);
  return k && k->may_change_on_resume;
}

std::vector<std::string> changed_keys(const RunConfig& a, const RunConfig& b) {
  std::vector<std::string> changed;
  for (const Key& k : keys()) {
    std::ostringstream va, vb;
    k.write(a, va);
    k.write(b, vb);
    if (va.str() != vb.str()) changed.emplace_back(k.name);
  }
  return changed;
}

void check_world_size(const RunConfig& config, int world_size) {
  const TrainConfig& t = config.train;
  const std::int64_t per_step = t.micro_batch * t.seq_len * world_size;
  if (t.batch_tokens % per_step == 0) return;
  throw ConfigError("train.batch_tokens (" + std::to_string(t.batch_tokens) +
                    ") must be a whole multiple of train.micro_batch * train.seq_len * ranks (" +
                    std::to_string(t.micro_batch) + " * " + std::to_string(t.seq_len) + " * " +
                    std::to_string(world_size) + " = " + std::to_string(per_step) +
                    "): every rank runs the same whole number of micro-batches per step");
}

RunConfig load_run_config(const fs::path& path, const std::vector<std::string>& overrides) {
  const std::string source = path.string();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    fail(source, fs::exists(path, ec) ? "cannot read config file: not a regular file"
                                      : "cannot read config file: no such file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(source, std::string("cannot read config file: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(source, "cannot read config file: read error");
  // Absolute, so that the resolved data paths stay valid from any working directory.
  return parse_run_config(text.str(), source, fs::absolute(path).parent_path(), overrides);
}

}  // namespace gpt
