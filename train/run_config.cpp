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
// its final value back as TOML, whether a resumed run may change it, and what the config
// reference says of it. Adding a key is one entry in keys() below (wrapped in resumable() when a
// resumed run may change it), with its description.
struct Key {
  std::string_view name;  // "section.key"
  bool wants_string = false;
  bool may_change_on_resume = false;
  std::function<void(RunConfig&, const toml::node&, const std::string& where)> read{};
  std::function<void(const RunConfig&, std::ostream&)> write{};
  std::string type{};                  // for the reference: "integer", "float", ...
  std::string allowed{};               // for the reference: the range or the values read() accepts
  std::string_view derived_default{};  // the reference's default when it follows from other keys
  std::string_view description{};

  std::string_view section() const { return name.substr(0, name.find('.')); }
  std::string_view leaf() const { return name.substr(name.find('.') + 1); }

  Key about(std::string_view text) && {
    description = text;
    return std::move(*this);
  }
  // A default that parse_run_config() derives from other keys when the key is not set.
  Key defaults_to(std::string_view text) && {
    derived_default = text;
    return std::move(*this);
  }
};

std::string integer_range(std::int64_t lo, std::int64_t hi) {
  return hi == kMaxInt ? ">= " + std::to_string(lo) : "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

template <class S, class T>
Key integer(std::string_view name, S RunConfig::*sec, T S::*mem, std::int64_t lo, std::int64_t hi = kMaxInt) {
  Key k{name};
  k.read = [=](RunConfig& c, const toml::node& node, const std::string& where) {
    const std::int64_t v = get_integer(node, name, where);
    if (v < lo || v > hi)
      fail(where, std::string(name) + " must be " + integer_range(lo, hi) + ", got " + std::to_string(v));
    c.*sec.*mem = static_cast<T>(v);
  };
  k.write = [=](const RunConfig& c, std::ostream& os) { os << static_cast<std::int64_t>(c.*sec.*mem); };
  k.type = "integer";
  k.allowed = integer_range(lo, hi);
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
  k.type = "float";
  k.allowed = range.describe();
  return k;
}

template <class S>
Key boolean(std::string_view name, S RunConfig::*sec, bool S::*mem) {
  Key k{name};
  k.read = [=](RunConfig& c, const toml::node& node, const std::string& where) {
    c.*sec.*mem = get_boolean(node, name, where);
  };
  k.write = [=](const RunConfig& c, std::ostream& os) { os << (c.*sec.*mem ? "true" : "false"); };
  k.type = "boolean";
  k.allowed = "true, false";
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
  k.type = "string";
  k.allowed = one_of(allowed);
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
  std::vector<std::string_view> names;
  for (const auto& option : options) names.push_back(option.first);
  k.type = "string";
  k.allowed = one_of(names);
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
  k.type = "string";
  k.allowed = "any string";
  return k;
}

template <class S>
Key path(std::string_view name, S RunConfig::*sec, fs::path S::*mem) {
  Key k{name, true};
  k.read = [=](RunConfig& c, const toml::node& node, const std::string& where) {
    c.*sec.*mem = fs::path(get_string(node, name, where));
  };
  k.write = [=](const RunConfig& c, std::ostream& os) { os << in_quotes((c.*sec.*mem).string()); };
  k.type = "path";
  k.allowed = "any path";
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
      integer("model.vocab_size", &R::model, &ModelConfig::vocab_size, 1)
          .about("Rows of the token embedding and of the LM head's logits: GPT-2's 50257 tokens padded to a "
                 "multiple of 64."),
      integer("model.real_vocab_size", &R::model, &ModelConfig::real_vocab_size, 1)
          .defaults_to("min(50257, vocab_size)")
          .about("Token ids that exist, at most `vocab_size`; the logits from here to `vocab_size` are padding "
                 "and never get probability."),
      integer("model.block_size", &R::model, &ModelConfig::block_size, 1)
          .about("Longest sequence in tokens: the rows of the position embedding `wpe`."),
      integer("model.n_layer", &R::model, &ModelConfig::n_layer, 1).about("Transformer blocks."),
      integer("model.n_head", &R::model, &ModelConfig::n_head, 1)
          .about("Attention heads per block; `n_embd` must be a multiple of it."),
      integer("model.n_embd", &R::model, &ModelConfig::n_embd, 1)
          .about("Width of the residual stream (the embedding size)."),
      integer("model.mlp_hidden", &R::model, &ModelConfig::mlp_hidden, 0)
          .about("Hidden size of each block's MLP; 0: 4·n_embd for gelu and relu2, 8/3·n_embd rounded up to a "
                 "multiple of 64 for swiglu."),
      number("model.dropout", &R::model, &ModelConfig::dropout, kUnit)
          .about("Dropout probability after the embeddings and on each residual branch, in training only."),
      boolean("model.bias", &R::model, &ModelConfig::bias)
          .about("Biases in every linear layer and LayerNorm (an RMSNorm has none)."),
      choice("model.activation", &R::model, &ModelConfig::activation,
             {{"gelu", Activation::gelu}, {"swiglu", Activation::swiglu}, {"relu2", Activation::relu2}})
          .about("The MLP's activation: GPT-2's GELU (tanh form), SwiGLU: SiLU(x·W1) ⊙ (x·W3), then W2, or "
                 "ReLU²: max(x·W1, 0)², the speedrun's."),
      boolean("model.tie_embeddings", &R::model, &ModelConfig::tie_embeddings)
          .about("The LM head shares the token embedding `wte`, as in GPT-2; false gives it its own "
                 "`lm_head.weight`."),
      choice("model.positions", &R::model, &ModelConfig::positions,
             {{"learned", Positions::learned}, {"rope", Positions::rope}})
          .about("Positions: GPT-2's learned table `wpe` added to the token embedding, or `rope`: rotary "
                 "embeddings of each head's queries and keys (no `wpe`; needs an even head size)."),
      number("model.rope_base", &R::model, &ModelConfig::rope_base, RealRange{1.0, true})
          .about("RoPE's base θ: pair i of a head of size d turns by position·θ^(−2i/d)."),
      choice("model.norm", &R::model, &ModelConfig::norm,
             {{"layernorm", NormKind::layernorm}, {"rmsnorm", NormKind::rmsnorm}})
          .about("The blocks' and the final norm: GPT-2's LayerNorm, or RMSNorm (no mean, no bias)."),
      boolean("model.qk_norm", &R::model, &ModelConfig::qk_norm)
          .about("QK-norm: each head's query and key divided by its RMS before attention (and before RoPE)."),
      boolean("model.zero_init_projections", &R::model, &ModelConfig::zero_init_projections)
          .about("Start every block's output projections (`attn.c_proj`, `mlp.c_proj`) at zero, so each block "
                 "starts as the identity; false: GPT-2's N(0, 0.02/√(2·n_layer))."),
      number("model.logit_softcap", &R::model, &ModelConfig::logit_softcap, kNonNegative)
          .about("Logit soft-cap: logits = cap·tanh(logits/cap), in training and generation; 0: off."),

      resumable(path("data.train", &R::data, &DataConfig::train)
                    .defaults_to("none: required")
                    .about("Token file to train on (made by `prepare`), relative to the config file's folder. A "
                           "resumed run may read another file with the same token count.")),
      resumable(path("data.val", &R::data, &DataConfig::val)
                    .about("Token file for validation, relative to the config file's folder; empty: no "
                           "validation.")),
      choice("data.sampling", &R::data, &DataConfig::sampling,
             {{"random", Sampling::random}, {"epoch", Sampling::epoch}})
          .about("Training windows: `random` positions, or `epoch`: a seeded permutation of non-overlapping "
                 "windows."),

      integer("train.seq_len", &R::train, &TrainConfig::seq_len, 0)
          .about("Tokens per sequence, at most `model.block_size`; 0: `model.block_size`."),
      resumable(integer("train.micro_batch", &R::train, &TrainConfig::micro_batch, 1)
                    .about("Sequences per forward/backward pass on one rank.")),
      integer("train.batch_tokens", &R::train, &TrainConfig::batch_tokens, 0)
          .about("Global tokens per optimizer step, over all ranks: a whole multiple of "
                 "micro_batch·seq_len·ranks, the quotient being each rank's gradient-accumulation steps; 0: "
                 "micro_batch·seq_len."),
      resumable(integer("train.max_steps", &R::train, &TrainConfig::max_steps, 1).about("Optimizer steps of the run.")),
      number("train.grad_clip", &R::train, &TrainConfig::grad_clip, kNonNegative)
          .about("Clips the gradients' global norm to this; 0 disables clipping."),
      integer("train.seed", &R::train, &TrainConfig::seed, 0)
          .about("Initialisation, batch sampling and dropout all derive from it."),
      resumable(text("train.backend", &R::train, &TrainConfig::backend, {"auto", "cpu", "cuda"})
                    .about("Where the run computes; `auto`: CUDA when a GPU is visible, else the CPU.")),
      resumable(
          text("train.precision", &R::train, &TrainConfig::precision, {"fp32", "bf16"})
              .about("`bf16`: bf16 activations and matmuls with fp32 master weights, gradients and optimizer state; "
                     "on the CPU it needs AMX-BF16 or AVX512-BF16.")),
      resumable(integer("train.threads", &R::train, &TrainConfig::threads, 0, kMaxThreadsPerRank)
                    .about("CPU threads per rank; 0: `OMP_NUM_THREADS` when set, else the CPUs this process may "
                           "use (its affinity mask capped by a cgroup CPU quota).")),
      resumable(boolean("train.recompute_mlp", &R::train, &TrainConfig::recompute_mlp)
                    .about("Recompute the MLP activation in the backward instead of keeping one per layer: less "
                           "memory, one more GELU/SwiGLU per layer, the same gradients bit for bit.")),
      resumable(number("train.peak_tflops", &R::train, &TrainConfig::peak_tflops, kNonNegative)
                    .about("One rank's device peak in TFLOP/s, for the MFU; 0: a datasheet table on GPUs, a "
                           "measurement on the CPU.")),

      number("optim.lr", &R::optim, &OptimConfig::lr, kPositive).about("Peak learning rate, reached after warmup."),
      number("optim.min_lr", &R::optim, &OptimConfig::min_lr, kNonNegative)
          .about("Final learning rate, at most `lr`, reached at `decay_steps`."),
      integer("optim.warmup_steps", &R::optim, &OptimConfig::warmup_steps, 0)
          .about("Linear warmup: step s (from 0) uses lr·(s+1)/warmup_steps."),
      choice("optim.schedule", &R::optim, &OptimConfig::schedule,
             {{"cosine", Schedule::cosine},
              {"linear", Schedule::linear},
              {"constant", Schedule::constant},
              {"wsd", Schedule::wsd}})
          .about("How the learning rate decays from `lr` to `min_lr` after warmup: `wsd` (warmup-stable-decay) "
                 "holds `lr`, then falls linearly over the last `decay_fraction` of the steps after warmup."),
      resumable(integer("optim.decay_steps", &R::optim, &OptimConfig::decay_steps, 0)
                    .about("Step at which the learning rate reaches `min_lr`, warmup included (as optax's "
                           "`warmup_cosine_decay_schedule`); 0: `train.max_steps`.")),
      resumable(
          number("optim.decay_fraction", &R::optim, &OptimConfig::decay_fraction, RealRange{0.0, true, 1.0, false})
              .about("`wsd` only: the share of the post-warmup steps over which the learning rate falls "
                     "to `min_lr`.")),
      number("optim.weight_decay", &R::optim, &OptimConfig::weight_decay, kNonNegative)
          .about("AdamW's decoupled weight decay, on 2-D weights only (not biases or LayerNorms)."),
      number("optim.beta1", &R::optim, &OptimConfig::beta1, kUnit).about("AdamW's first-moment decay."),
      number("optim.beta2", &R::optim, &OptimConfig::beta2, kUnit).about("AdamW's second-moment decay."),
      number("optim.eps", &R::optim, &OptimConfig::eps, kPositive)
          .about("AdamW's epsilon, added to the root of the second moment."),

      resumable(integer("eval.interval", &R::eval, &EvalConfig::interval, 0)
                    .about("Steps between validation passes; 0: only at the start and at the end.")),
      resumable(integer("eval.batches", &R::eval, &EvalConfig::batches, 1)
                    .about("Micro-batches per validation pass, the same windows every time.")),

      resumable(integer("checkpoint.interval", &R::checkpoint, &CheckpointConfig::interval, 0)
                    .about("Steps between checkpoints; 0: only at the end (and when a signal stops the run).")),
      resumable(integer("checkpoint.keep_last", &R::checkpoint, &CheckpointConfig::keep_last, 0)
                    .about("Newest checkpoints kept, older ones deleted once the new one is complete; 0 keeps all.")),
      resumable(text("checkpoint.resume", &R::checkpoint, &CheckpointConfig::resume, {"never", "auto"})
                    .about("`auto`: continue from the newest valid checkpoint in `run.dir` when there is one, else "
                           "start afresh (`--resume` insists on one).")),
      resumable(text("checkpoint.broadcast_resume", &R::checkpoint, &CheckpointConfig::broadcast_resume,
                     {"auto", "always", "never"})
                    .about("Who reads the checkpoint a run resumes from: `always` rank 0, which sends it to the "
                           "others (node-local disks); `never` every rank; `auto` every rank when all see the same "
                           "file, else rank 0.")),

      resumable(integer("dist.zero_stage", &R::dist, &DistConfig::zero_stage, 0, 1)
                    .about("0: plain data parallelism, every rank holds the AdamW moments; 1: ZeRO-1, the moments "
                           "sharded over the ranks, the same result.")),
      resumable(number("dist.bucket_mb", &R::dist, &DistConfig::bucket_mb, kPositive)
                    .about("Gradients travel in buckets of about this many MiB, each sent as soon as the backward "
                           "has finished its layers.")),
      resumable(number("dist.timeout_s", &R::dist, &DistConfig::timeout_s, kPositive)
                    .about("Seconds a collective may stay pending before it ends the job (a lost node or a cut "
                           "link), with a message naming the other ranks' hosts.")),

      resumable(path("run.dir", &R::run, &RunDirConfig::dir)
                    .about("Output folder, relative to the working directory; must not be empty.")),

      resumable(integer("log.interval", &R::log, &LogConfig::interval, 1)
                    .about("Steps between log lines; the last step is always logged.")),
      resumable(integer("log.sample_interval", &R::log, &LogConfig::sample_interval, 0)
                    .about("Steps between text samples from the model (rank 0, also after the last step), with "
                           "the same seed each time; 0: none.")),
      resumable(any_text("log.sample_prompt", &R::log, &LogConfig::sample_prompt).about("The samples' prompt.")),
      resumable(integer("log.sample_tokens", &R::log, &LogConfig::sample_tokens, 1)
                    .about("New tokens per sample (fewer when `<|endoftext|>` comes first).")),
      resumable(number("log.sample_temperature", &R::log, &LogConfig::sample_temperature, kNonNegative)
                    .about("The samples' temperature; 0: greedy.")),
      resumable(integer("log.sample_top_k", &R::log, &LogConfig::sample_top_k, 0)
                    .about("The samples draw from this many most likely tokens; 0: all.")),
      resumable(boolean("log.tensorboard", &R::log, &LogConfig::tensorboard)
                    .about("TensorBoard event files in `<run.dir>/tb/`.")),
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

std::vector<ConfigKeyDoc> config_key_docs() {
  const RunConfig defaults;
  std::vector<ConfigKeyDoc> docs;
  for (const Key& k : keys()) {
    std::ostringstream default_value;
    if (k.derived_default.empty()) {
      k.write(defaults, default_value);
    } else {
      default_value << k.derived_default;
    }
    docs.push_back({.name = std::string(k.name),
                    .type = k.type,
                    .default_value = default_value.str(),
                    .default_is_derived = !k.derived_default.empty(),
                    .allowed = k.allowed,
                    .may_change_on_resume = k.may_change_on_resume,
                    .description = std::string(k.description)});
  }
  return docs;
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
