// The Trainer's checkpoints: what goes into the HDF5 file, and how a run continues from one.
// The file does not depend on the world size (ZeRO-1 moments are gathered first), and all
// randomness is counter-based, so step, parameters, moments and Adam's step count are the whole
// state: the sampler and dropout continue from the step alone.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <exception>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/errors.h"
#include "dist/broadcast.h"
#include "dist/consistency.h"
#include "train/checkpoint/hf/gpt2_folder.h"
#include "train/checkpoint/model_checkpoint.h"
#include "train/trainer.h"

namespace gpt {
namespace {

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

}  // namespace

namespace {

std::string io_report(const char* verb, const std::filesystem::path& path,
                      std::chrono::steady_clock::time_point since) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
  std::error_code ec;
  const double mb = static_cast<double>(std::filesystem::file_size(path, ec)) / 1e6;
  std::ostringstream line;
  line.precision(3);
  line << verb << " " << path.string() << ": " << mb << " MB in " << seconds << " s (" << mb / seconds << " MB/s)";
  return line.str();
}

}  // namespace

std::string Trainer::save_checkpoint(std::int64_t step) {
  const auto start = std::chrono::steady_clock::now();
  join_ranks();
  check_same_parameters(*comm_, model_, "at the checkpoint after step " + std::to_string(step));
  const std::size_t n = static_cast<std::size_t>(model_.flat_numel());
  Backend& backend = model_.backend();
  // fp32 buffers in host memory holding the whole flat buffer are written in place: copying
  // 1.5 GB into fresh pages cost more than the write itself.
  const bool in_place = backend.host_memory() && backend.param_dtype() == DType::f32 &&
                        optimizer_.owned().size() == 1 && optimizer_.owned()[0].size() == model_.flat_numel();
  if (in_place) {
    if (comm_->rank() != 0) return {};
    return write_checkpoint(step, model_.params().data<float>(), optimizer_.moment_m(0).data<float>(),
                            optimizer_.moment_v(0).data<float>(), start);
  }
  std::vector<float> m(n, 0.0f), v(n, 0.0f);
  optimizer_.export_moments(m, v);
  sharding_.gather_moments(model_, m, v);
  if (comm_->rank() != 0) return {};

  std::vector<float> params(n);
  model_.backend().download(model_.params(), params.data());
  return write_checkpoint(step, params.data(), m.data(), v.data(), start);
}

std::string Trainer::write_checkpoint(std::int64_t step, const float* params, const float* m, const float* v,
                                      std::chrono::steady_clock::time_point start) {
  std::vector<TensorRef> tensors;
  for (const ParamInfo& p : model_.table().entries()) {
    const auto at = static_cast<std::size_t>(p.offset);
    tensors.push_back({"params/" + p.name, p.shape, params + at});
    tensors.push_back({"optim/m/" + p.name, p.shape, m + at});
    tensors.push_back({"optim/v/" + p.name, p.shape, v + at});
  }
  const TrainConfig& t = config_.train;
  std::map<std::string, Attrs> attrs;
  attrs["/"] = {{"format_version", kCheckpointFormatVersion},
                {"step", step},
                {"tokens_seen", step * t.batch_tokens},
                {"world_size", static_cast<std::int64_t>(comm_->world_size())},
                {"created", utc_now()},
                {"config", config_.resolved_toml}};
  attrs["/optim"] = {{"steps_taken", optimizer_.steps_taken()}};
  // Every random stream is a pure function of the seed and a counter: nothing else to save.
  attrs["/rng"] = {{"seed", static_cast<std::int64_t>(t.seed)},
                   {"scheme", std::string("counter-based: init(seed, tensor, index), windows(seed, global sequence), "
                                          "dropout(seed, first global sequence of the micro-batch, site, index)")}};
  attrs["/data"] = {{"sampling", std::string(config_.data.sampling == Sampling::epoch ? "epoch" : "random")},
                    {"seq_len", t.seq_len},
                    {"next_sequence", step * (t.batch_tokens / t.seq_len)},
                    {"train_tokens", static_cast<std::int64_t>(train_file_.size())}};
  const std::filesystem::path path = checkpoint_path(config_.run.dir, step);
  // A checkpoint that cannot be written stops the run (exit 1): training on without a way to
  // save would spend hours that a crash or the run's end could lose. The message says where to
  // continue from once the cause (usually a full disk) is fixed.
  try {
    checkpoints_.write(step, attrs, tensors);
  } catch (const std::exception& e) {
    std::error_code ec;
    const std::string last = last_checkpoint_.empty() ? "no checkpoint of this run was written before"
                             : std::filesystem::exists(last_checkpoint_, ec)
                                 ? "the last good checkpoint is " + last_checkpoint_
                                 : "the last good checkpoint " + last_checkpoint_ + " is no longer there either";
    throw std::runtime_error(std::string(e.what()) + "; training stopped, " + last +
                             " (fix the cause, a full disk usually, then --resume)");
  }
  last_checkpoint_ = path.string();
  std::string report = io_report("checkpoint", path, start);
  std::ostringstream notes;
  checkpoints_.prune(config_.checkpoint.keep_last, notes);
  if (!notes.str().empty()) report += "\n" + notes.str().substr(0, notes.str().size() - 1);
  return report;
}

namespace {

std::string rank_list(const std::vector<int>& ranks) {
  std::string out;
  for (std::size_t i = 0; i < ranks.size() && i < 8; ++i) out += (i ? ", " : "") + std::to_string(ranks[i]);
  if (ranks.size() > 8) out += " and " + std::to_string(ranks.size() - 8) + " more";
  return out;
}

}  // namespace

std::string Trainer::choose_checkpoint(std::ostream& warnings, std::optional<CheckpointFile>& opened) {
  // Rank 0 chooses; a failure on rank 0 is passed on, so no rank is left waiting.
  std::string chosen, failure;
  if (comm_->rank() == 0) {
    try {
      opened = checkpoints_.open_newest_valid(warnings);
      if (opened) chosen = opened->path().string();
    } catch (const std::exception& e) {
      failure = e.what();
      if (failure.empty()) failure = "rank 0 could not look for checkpoints in " + config_.run.dir.string();
    }
  }
  broadcast_text(*comm_, failure);
  if (!failure.empty()) throw CheckpointError(failure);
  broadcast_text(*comm_, chosen);
  return chosen;
}

std::vector<int> Trainer::ranks_not_seeing(const std::string& chosen) {
  const std::string& mode = config_.checkpoint.broadcast_resume;
  std::vector<int> blind;
  if (comm_->world_size() == 1 || mode == "never") return blind;
  if (mode == "always") {
    for (int r = 1; r < comm_->world_size(); ++r) blind.push_back(r);
    return blind;
  }
  // "auto": the same seal means the same bytes; a rank with no file there, another file, or an
  // unsealed (older) one cannot be trusted to read what rank 0 reads.
  std::string theirs = comm_->rank() == 0 ? checkpoint_identity(chosen) : "";
  broadcast_text(*comm_, theirs);
  const bool sees = !theirs.empty() && checkpoint_identity(chosen) == theirs;
  const std::vector<std::uint64_t> seen = comm_->all_gather_u64(sees ? 1 : 0);
  for (int r = 0; r < comm_->world_size(); ++r)
    if (seen[static_cast<std::size_t>(r)] == 0) blind.push_back(r);
  if (!blind.empty() && blind.front() == 0) {  // rank 0's own file is unsealed: send it to all
    blind.clear();
    for (int r = 1; r < comm_->world_size(); ++r) blind.push_back(r);
  }
  return blind;
}

bool Trainer::resume(std::ostream& warnings) {
  const auto start = std::chrono::steady_clock::now();
  std::optional<CheckpointFile> file;  // rank 0's, read and verified while choosing
  const std::string chosen = choose_checkpoint(warnings, file);
  if (chosen.empty()) return false;
  const std::vector<int> blind = ranks_not_seeing(chosen);
  if (blind.empty()) {
    if (!file) file.emplace(chosen);
    restore_from(*file);
    resumed_from_ = io_report("read", chosen, start);
  } else {
    restore_through_rank0(chosen, file);
    resumed_from_ = io_report("read", chosen, start) + " by rank 0, sent to ranks " + rank_list(blind) +
                    " (checkpoint.broadcast_resume = " + config_.checkpoint.broadcast_resume + ")";
  }
  last_checkpoint_ = chosen;
  // The first step still broadcasts rank 0's parameters and compares checksums: a rank that
  // read something else is caught there, after setup has been agreed on.
  return true;
}

void Trainer::restore_through_rank0(const std::string& chosen, std::optional<CheckpointFile>& file) {
  // Rank 0 checks the file and restores from it; what went wrong there (and its kind: bad input
  // or not) reaches every rank before anything else is sent, so none is left waiting.
  std::exception_ptr failure;
  std::string message;
  std::uint64_t input_error = 0;
  if (comm_->rank() == 0) {
    try {
      if (!file) file.emplace(chosen);
      restore_from(*file);
    } catch (const InputError& e) {
      failure = std::current_exception();
      message = e.what();
      input_error = 1;
    } catch (const std::exception& e) {
      failure = std::current_exception();
      message = e.what();
    }
    if (failure && message.empty()) message = "rank 0 could not resume from " + chosen;
  }
  broadcast_text(*comm_, message);
  if (!message.empty()) {
    comm_->broadcast_bytes(&input_error, sizeof input_error, 0);
    if (failure) std::rethrow_exception(failure);
    if (input_error) throw CheckpointError("rank 0: " + message);
    throw std::runtime_error("rank 0: " + message);
  }
  // Step and Adam's step count, then both moments of every tensor; the parameters follow at the
  // first step, where every run broadcasts rank 0's (join_ranks).
  std::int64_t counters[2] = {start_step_, optimizer_.steps_taken()};
  comm_->broadcast_bytes(counters, sizeof counters, 0);
  std::vector<float> m, v;  // the other ranks' receive buffers; rank 0 sends from the file
  for (const ParamInfo& p : model_.table().entries()) {
    const auto n = static_cast<std::size_t>(p.numel);
    float *m_at = nullptr, *v_at = nullptr;
    if (comm_->rank() == 0) {  // a broadcast's root only reads its buffer
      m_at = const_cast<float*>(file->values("optim/m/" + p.name).data());
      v_at = const_cast<float*>(file->values("optim/v/" + p.name).data());
    } else {
      m.resize(n);
      v.resize(n);
      m_at = m.data();
      v_at = v.data();
    }
    broadcast_floats(*comm_, m_at, n);
    broadcast_floats(*comm_, v_at, n);
    if (comm_->rank() != 0) optimizer_.import_moments(p.offset, m_at, v_at, p.numel);
  }
  if (comm_->rank() != 0) {
    optimizer_.set_steps_taken(counters[1]);
    start_step_ = counters[0];
  }
}

void Trainer::restore_from(const CheckpointFile& file) {
  const std::string chosen = file.path().string();
  check_checkpoint_format(file);

  const RunConfig saved = parse_run_config(file.attr_string("/", "config"), chosen + " (its config)", ".", {});
  std::vector<std::string> refused;
  for (const std::string& key : changed_keys(saved, config_))
    if (!may_change_on_resume(key)) refused.push_back(key);
  if (!refused.empty()) {
    std::string keys;
    for (const std::string& k : refused) keys += (keys.empty() ? "" : ", ") + k;
    throw ConfigError("cannot resume from " + chosen + ": changing " + keys +
                      " from the checkpoint's config would change the run (start a new run.dir, or use --init-from "
                      "to start from its weights)");
  }
  if (file.attr_int("/data", "train_tokens") != static_cast<std::int64_t>(train_file_.size()))
    throw ConfigError("cannot resume from " + chosen + ": data.train has " + std::to_string(train_file_.size()) +
                      " tokens, the checkpoint's run had " + std::to_string(file.attr_int("/data", "train_tokens")));

  const std::int64_t step = file.attr_int("/", "step"), steps_taken = file.attr_int("/optim", "steps_taken");
  if (step < 0) throw CheckpointError("checkpoint " + chosen + ": attribute step is " + std::to_string(step));
  if (steps_taken < 0 || steps_taken > step)
    throw CheckpointError("checkpoint " + chosen + ": attribute /optim steps_taken is " + std::to_string(steps_taken) +
                          ", outside 0 .. step (" + std::to_string(step) + ")");
  for (const ParamInfo& p : model_.table().entries()) {
    (void)checked_tensor(file, "optim/m/" + p.name, p.shape);
    (void)checked_tensor(file, "optim/v/" + p.name, p.shape, true);
  }
  load_model_parameters(model_, file);
  for (const ParamInfo& p : model_.table().entries())
    optimizer_.import_moments(p.offset, file.values("optim/m/" + p.name).data(),
                              file.values("optim/v/" + p.name).data(), p.numel);
  optimizer_.set_steps_taken(steps_taken);
  start_step_ = step;
}

std::string Trainer::init_from(const std::string& source) {
  if (source.starts_with("hf:")) {
    const std::string report = load_hf_gpt2(model_, source.substr(3));
    start_step_ = 0;
    return report;
  }
  const std::filesystem::path checkpoint = source;
  const CheckpointFile file(checkpoint);
  check_checkpoint_format(file);
  load_model_parameters(model_, file);
  start_step_ = 0;
  std::ostringstream report;
  report << "init-from: " << model_.table().entries().size() << " parameter tensors from " << checkpoint.string()
         << " (its step " << file.attr_int("/", "step") << "); optimizer state fresh, step 0";
  // Parameters this model has no place for, e.g. lm_head.weight of an untied model in a tied one.
  std::set<std::string> used;
  for (const ParamInfo& p : model_.table().entries()) used.insert("params/" + p.name);
  std::string unused;
  for (const std::string& path : file.tensor_paths())
    if (path.rfind("params/", 0) == 0 && !used.contains(path)) unused += (unused.empty() ? "" : ", ") + path.substr(7);
  if (!unused.empty()) {
    report << "\ninit-from: not used (this model has no such parameter): " << unused;
    if (config_.model.tie_embeddings && unused.find("lm_head.weight") != std::string::npos)
      report << " (model.tie_embeddings = true: the output layer is wte.weight)";
  }
  return report.str();
}

}  // namespace gpt
