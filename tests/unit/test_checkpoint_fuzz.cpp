// Fuzzing what the trainer does with a checkpoint it is given: --resume and --init-from read a
// file from disk that a crash, a full disk, another program or a user may have damaged. Starting
// from a real checkpoint of a small run, three kinds of mutation:
//   - content: tensors and attributes dropped, renamed, reshaped, cut short or of another kind,
//     extreme values, a mangled config, written back through write_checkpoint_file so that the
//     checksum is valid and the trainer's own checks are what must catch it;
//   - storage: objects of types and layouts our writer never makes (integer and float64
//     datasets, array attributes, chunked datasets claiming terabytes, soft links), written with
//     HDF5 directly;
//   - bytes: bit flips, overwritten blocks and truncation anywhere in the file: the seal must
//     refuse them before HDF5's parser sees them (which crashed on such files before the seal).
// Every outcome is a resume (or init) that worked, "no valid checkpoint", or an InputError (exit
// 2): never another exception, a crash or a hang. A successful resume then trains one step.
// Fixed seeds; GPT_FUZZ_ITERATIONS=N runs N mutations of each kind instead of the default.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/ops/cpu/cpu_backend.h"
#include "dist/communicator.h"
#include "tests/support/checkpoint_seal.h"
#include "tests/support/fuzz_iterations.h"
#include "tests/support/read_file.h"
#include "tests/support/temp_dir_test.h"
#include "tests/support/test_data.h"
#include "train/checkpoint/checkpoint_file.h"
#include "train/checkpoint/checkpoint_folder.h"
#include "train/run_config.h"
#include "train/trainer.h"

#if GPT_TEST_HAVE_HDF5
#include <hdf5.h>
#endif

namespace gpt::test {
namespace {

namespace fs = std::filesystem;

// A small model (a 4.8 MB checkpoint) on the real sample: the vocabulary must hold its tokens.
RunConfig small_run(const fs::path& run_dir) {
  const std::string data = (data_dir() / "tinystories").string() + "/";
  const std::string toml = "[data]\ntrain = \"" + data + "TinyStories-train-sample.bin\"\nval = \"" + data +
                           "TinyStories-valid-sample.bin\"\n";
  return parse_run_config(toml, "fuzz.toml", ".",
                          {"--model.vocab_size=50304", "--model.block_size=16", "--model.n_layer=1", "--model.n_head=2",
                           "--model.n_embd=8", "--train.seq_len=16", "--train.micro_batch=2", "--train.batch_tokens=32",
                           "--train.max_steps=4", "--eval.batches=1", "--run.dir=" + run_dir.string()});
}

// A checkpoint's whole content, to mutate and write back.
struct Contents {
  std::map<std::string, Attrs> attrs;
  struct Tensor {
    std::vector<std::int64_t> shape;
    std::vector<float> values;
  };
  std::map<std::string, Tensor> tensors;

  static Contents of(const CheckpointFile& file) {
    Contents c;
    c.attrs = file.attributes();
    c.attrs["/"].erase("checksum");  // write_checkpoint_file computes it
    for (const std::string& p : file.tensor_paths()) c.tensors[p] = {file.shape(p), file.values(p)};
    return c;
  }
  void write(const fs::path& path) const {
    std::vector<TensorRef> refs;
    for (const auto& [p, t] : tensors) refs.push_back({p, t.shape, t.values.data()});
    write_checkpoint_file(path, attrs, refs);
  }
};

template <class Map>
auto pick(Map& m, std::mt19937_64& rng) {
  auto it = m.begin();
  std::advance(it, static_cast<std::ptrdiff_t>(rng() % m.size()));
  return it;
}

// One to three content mutations; returns what was done, for the failure message.
std::string mutate_contents(Contents& c, std::mt19937_64& rng) {
  static const std::vector<std::int64_t> extremes = {
      -1, 0, 1, 3, 5, 1 << 30, std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()};
  static const std::vector<std::string> toml_bits = {
      "=", "\"", "[", "]", "\n", "-1", "0", "1e308", "nan", "[model]", "n_embd = 9\n", "n_layer", "\xff"};
  std::ostringstream what;
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int e = 0; e < edits; ++e) {
    const int kind = static_cast<int>(rng() % 10);
    if (kind <= 4 && !c.tensors.empty()) {
      auto it = pick(c.tensors, rng);
      auto& [path, t] = *it;
      switch (kind) {
        case 0:
          what << "drop tensor " << path << "; ";
          c.tensors.erase(it);
          break;
        case 1: {  // another shape, same or other number of values
          what << "reshape " << path << "; ";
          if (t.shape.empty() || rng() % 3 == 0)
            t.shape.push_back(1 + static_cast<std::int64_t>(rng() % 3));
          else
            t.shape[rng() % t.shape.size()] += (rng() % 2 ? 1 : -1);
          std::int64_t n = 1;
          for (std::int64_t& d : t.shape) n *= (d = std::max<std::int64_t>(d, 0));
          if (rng() % 2)
            t.values.resize(static_cast<std::size_t>(n));
          else
            t.shape = {static_cast<std::int64_t>(t.values.size())};
          break;
        }
        case 2:  // cut short, flattened
          what << "cut " << path << "; ";
          t.values.resize(t.values.size() / 2);
          t.shape = {static_cast<std::int64_t>(t.values.size())};
          break;
        case 3: {
          const std::string to = rng() % 2 ? path + "_renamed" : "params/" + path;
          what << "rename " << path << " to " << to << "; ";
          Contents::Tensor moved = std::move(t);
          c.tensors.erase(it);
          c.tensors[to] = std::move(moved);
          break;
        }
        default: {  // values a damaged writer could leave
          what << "non-finite values in " << path << "; ";
          const float bad[] = {std::nanf(""), std::numeric_limits<float>::infinity(), -1e38f};
          for (int k = 0; k < 3 && !t.values.empty(); ++k) t.values[rng() % t.values.size()] = bad[rng() % 3];
          break;
        }
      }
      continue;
    }
    auto group = pick(c.attrs, rng);
    if (group->second.empty()) continue;
    auto attr = pick(group->second, rng);
    const std::string name = group->first + ":" + attr->first;
    switch (kind) {
      case 5:
        what << "drop attribute " << name << "; ";
        group->second.erase(attr);
        break;
      case 6:  // another type
        what << "retype " << name << "; ";
        if (std::holds_alternative<std::int64_t>(attr->second))
          attr->second = rng() % 2 ? AttrValue{1.5} : AttrValue{std::string("12")};
        else
          attr->second = std::int64_t{12};
        break;
      case 7:
      case 8:
        if (auto* i = std::get_if<std::int64_t>(&attr->second)) {
          *i = extremes[rng() % extremes.size()];
          what << "set " << name << " = " << *i << "; ";
        } else if (auto* s = std::get_if<std::string>(&attr->second)) {
          what << "edit string " << name << "; ";
          for (int k = 0; k < 3; ++k) {
            const std::size_t at = s->empty() ? 0 : rng() % s->size();
            if (rng() % 2 && !s->empty())
              s->erase(at, 1 + rng() % 12);
            else
              s->insert(at, toml_bits[rng() % toml_bits.size()]);
          }
        } else {
          what << "set " << name << " = nan; ";
          attr->second = std::nan("");
        }
        break;
      default:
        what << "extra attribute in " << group->first << "; ";
        group->second["extra_" + std::to_string(rng() % 100)] = std::int64_t{7};
        break;
    }
  }
  return what.str();
}

class CheckpointFuzz : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    if (!checkpoints_supported()) GTEST_SKIP() << "this build has no HDF5";
    source_ = dir_ / "source";
    const RunConfig config = small_run(source_);
    CpuBackend<float> backend(1);
    SingleRank comm;
    Trainer trainer(config, backend, comm);
    for (std::int64_t s = 0; s < 3; ++s) trainer.train_step(s);
    trainer.save_checkpoint(3);
    original_ = checkpoint_path(source_, 3);
  }

  // diverged: resumed, then the step's own guard stopped a NaN loss (finite but absurd weights,
  // e.g. -1e38, are a valid file; the run ends with one line and exit 1).
  enum class Outcome { resumed, nothing_valid, refused, diverged };

  // Puts `file` (or whatever `make` writes there) as the only checkpoint of a fresh run folder,
  // resumes from it and, when that works, trains a step; then --init-from it. Fails the test on
  // anything but a clean outcome.
  Outcome try_checkpoint(const fs::path& file, const std::string& what, int& inits_refused) {
    const fs::path run = dir_ / "run";
    Outcome outcome = Outcome::refused;
    try {
      CpuBackend<float> backend(1);
      SingleRank comm;
      Trainer trainer(small_run(run), backend, comm);
      std::ostringstream warnings;
      if (!trainer.resume(warnings)) {
        outcome = Outcome::nothing_valid;
      } else {
        outcome = Outcome::resumed;
        try {
          if (trainer.start_step() < 4) (void)trainer.train_step(trainer.start_step());
        } catch (const std::runtime_error& e) {
          if (std::string(e.what()).rfind("training loss is ", 0) != 0) throw;
          outcome = Outcome::diverged;
        }
      }
    } catch (const InputError&) {
      outcome = Outcome::refused;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "resume: not an InputError: " << e.what() << "\n  mutation: " << what;
    }
    try {
      CpuBackend<float> backend(1);
      SingleRank comm;
      Trainer trainer(small_run(dir_ / "init"), backend, comm);
      (void)trainer.init_from(file);
    } catch (const InputError&) {
      ++inits_refused;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "init-from: not an InputError: " << e.what() << "\n  mutation: " << what;
    }
    return outcome;
  }

  fs::path slot() const { return checkpoint_path(dir_ / "run", 3); }
  void clear_slot() {
    std::error_code ec;
    fs::remove_all(dir_ / "run", ec);
    fs::create_directories(slot().parent_path());
  }

  fs::path source_, original_;
};

TEST_F(CheckpointFuzz, MutatedContentIsResumedOrRefusedAsInput) {
  const Contents base = Contents::of(CheckpointFile(original_));
  std::mt19937_64 rng(20261202);
  std::map<Outcome, int> seen;
  int inits_refused = 0;
  const int n = fuzz_iterations(150);
  for (int i = 0; i < n && !HasFailure(); ++i) {
    Contents c = base;
    const std::string what = mutate_contents(c, rng);
    clear_slot();
    c.write(slot());
    ++seen[try_checkpoint(slot(), what, inits_refused)];
  }
  std::cout << n << " mutated checkpoints: " << seen[Outcome::resumed] << " resumed, " << seen[Outcome::diverged]
            << " resumed and stopped by the NaN-loss guard, " << seen[Outcome::nothing_valid] << " skipped as invalid, "
            << seen[Outcome::refused] << " refused; --init-from refused " << inits_refused << "\n";
  EXPECT_GT(seen[Outcome::resumed], 0);
  EXPECT_GT(seen[Outcome::refused], n / 4);
}

// The cases found by the mutation above, each named: a file with a valid checksum that the trainer
// must still refuse, naming what is wrong.
TEST_F(CheckpointFuzz, ValidChecksumWrongContentIsRefusedByName) {
  const Contents base = Contents::of(CheckpointFile(original_));
  const std::string m0 = "optim/m/h.0.ln_1.weight";
  ASSERT_TRUE(base.tensors.count(m0)) << "the model's tensor names changed";
  struct Case {
    const char* name;
    std::function<void(Contents&)> mutate;
    const char* expected;  // in the message
  };
  const std::vector<Case> cases = {
      {"a moment cut short", [&](Contents& c) { c.tensors[m0].values.resize(3), c.tensors[m0].shape = {3}; },
       "optim/m/h.0.ln_1.weight"},
      {"a moment missing", [&](Contents& c) { c.tensors.erase(m0); }, "optim/m/h.0.ln_1.weight"},
      {"a negative step", [](Contents& c) { c.attrs["/"]["step"] = std::int64_t{-5}; }, "step"},
      {"Adam's step count past the step", [](Contents& c) { c.attrs["/optim"]["steps_taken"] = std::int64_t{1} << 62; },
       "steps_taken"},
      {"a negative Adam step count", [](Contents& c) { c.attrs["/optim"]["steps_taken"] = std::int64_t{-1}; },
       "steps_taken"},
      {"a newer format", [](Contents& c) { c.attrs["/"]["format_version"] = std::int64_t{2}; }, "format_version"},
      {"the step as a string", [](Contents& c) { c.attrs["/"]["step"] = std::string("3"); }, "step"},
      {"no config", [](Contents& c) { c.attrs["/"].erase("config"); }, "config"},
      {"a parameter that is not finite", [](Contents& c) { c.tensors["params/wte.weight"].values[7] = std::nanf(""); },
       "wte.weight"},
  };
  for (const Case& k : cases) {
    Contents c = base;
    k.mutate(c);
    clear_slot();
    c.write(slot());
    try {
      CpuBackend<float> backend(1);
      SingleRank comm;
      Trainer trainer(small_run(dir_ / "run"), backend, comm);
      std::ostringstream warnings;
      const bool resumed = trainer.resume(warnings);
      ADD_FAILURE() << k.name << ": " << (resumed ? "resumed" : "skipped: " + warnings.str());
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(k.expected), std::string::npos) << k.name << ": " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << k.name << ": not an InputError: " << e.what();
    }
  }
}

TEST_F(CheckpointFuzz, MutatedBytesAreRefusedAsInput) {
  const std::string bytes = test::read_file(original_);
  ASSERT_GT(bytes.size(), 1000000u);
  // The metadata (superblock, object headers, heaps, attributes) is where a parser is fragile,
  // and it sits in the first and last few KB of our files: most mutations go there.
  const std::size_t head = 8192;
  std::mt19937_64 rng(1202);
  int refused = 0;
  const int n = fuzz_iterations(300);
  for (int i = 0; i < n && !HasFailure(); ++i) {
    std::string b = bytes;
    std::ostringstream what;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t region = rng() % 4, near = std::min(head, b.size());
      const std::size_t at = region == 0 ? rng() % b.size() : region == 1 ? b.size() - 1 - rng() % near : rng() % near;
      switch (rng() % 4) {
        case 0:
          b[at] = static_cast<char>(b[at] ^ (1u << (rng() % 8)));
          what << "flip@" << at << " ";
          break;
        case 1: {
          const std::size_t len = std::min<std::size_t>(1 + rng() % 16, b.size() - at);
          for (std::size_t k = 0; k < len; ++k) b[at + k] = static_cast<char>(rng() % 3 == 0 ? 0xff : rng());
          what << "overwrite@" << at << "+" << len << " ";
          break;
        }
        case 2:
          b.resize(at);
          what << "truncate@" << at << " ";
          break;
        default:
          b.replace(at, 0, std::string(1 + rng() % 8, '\0'));
          what << "insert@" << at << " ";
          break;
      }
      if (b.empty()) b = "x";
    }
    clear_slot();
    std::ofstream(slot(), std::ios::binary) << b;
    int inits_refused = 0;
    const Outcome outcome = try_checkpoint(slot(), what.str(), inits_refused);
    // The seal covers every byte, even those HDF5 never reads: nothing damaged gets through.
    if (outcome == Outcome::nothing_valid) ++refused;
    EXPECT_EQ(outcome, Outcome::nothing_valid) << what.str();
  }
  std::cout << n << " byte-mutated checkpoints: " << refused << " refused by the seal\n";
}

#if GPT_TEST_HAVE_HDF5
// Objects of kinds our writer never produces, as another program could put them in a file.
TEST_F(CheckpointFuzz, ForeignStorageIsRefusedAsInput) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const Contents base = Contents::of(CheckpointFile(original_));
  const std::string target = "params/h.0.ln_1.weight";
  struct Case {
    const char* name;
    const char* expected;  // in the message
    // Replaces `target` in a file written from `base` by something else.
    std::function<void(hid_t file)> mutate;
  };
  const hsize_t n = static_cast<hsize_t>(base.tensors.at(target).values.size());
  const auto replace = [&](hid_t file) { H5Ldelete(file, target.c_str(), H5P_DEFAULT); };
  const auto dataset = [&](hid_t file, hid_t type, hid_t space, hid_t dcpl) {
    replace(file);
    const hid_t ds = H5Dcreate2(file, target.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ASSERT_GE(ds, 0);
    H5Dclose(ds);
  };
  const std::vector<Case> cases = {
      {"int32 dataset", "is not float32",
       [&](hid_t f) {
         const hid_t s = H5Screate_simple(1, &n, nullptr);
         dataset(f, H5T_STD_I32LE, s, H5P_DEFAULT);
         H5Sclose(s);
       }},
      {"float64 dataset", "is not float32",
       [&](hid_t f) {
         const hid_t s = H5Screate_simple(1, &n, nullptr);
         dataset(f, H5T_IEEE_F64LE, s, H5P_DEFAULT);
         H5Sclose(s);
       }},
      {"chunked dataset claiming 10^12 values", "chunked",
       [&](hid_t f) {
         const hsize_t dims[2] = {1000000, 1000000}, chunk[2] = {64, 64};
         const hid_t s = H5Screate_simple(2, dims, nullptr);
         const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
         H5Pset_chunk(dcpl, 2, chunk);
         dataset(f, H5T_IEEE_F32LE, s, dcpl);
         H5Pclose(dcpl);
         H5Sclose(s);
       }},
      {"chunked dataset claiming 2^28 values", "chunked",  // 1 GiB: must not be allocated just to find out
       [&](hid_t f) {
         const hsize_t dims[1] = {hsize_t{1} << 28}, chunk[1] = {4096};
         const hid_t s = H5Screate_simple(1, dims, nullptr);
         const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
         H5Pset_chunk(dcpl, 1, chunk);
         dataset(f, H5T_IEEE_F32LE, s, dcpl);
         H5Pclose(dcpl);
         H5Sclose(s);
       }},
      {"soft link", "soft or external link",
       [&](hid_t f) {
         replace(f);
         H5Lcreate_soft("/params/wte.weight", f, target.c_str(), H5P_DEFAULT, H5P_DEFAULT);
       }},
      {"external link", "soft or external link",
       [&](hid_t f) {
         replace(f);
         H5Lcreate_external("/nonexistent.h5", "/x", f, target.c_str(), H5P_DEFAULT, H5P_DEFAULT);
       }},
      {"group in place of a tensor", "checksum mismatch",
       [&](hid_t f) {
         replace(f);
         const hid_t g = H5Gcreate2(f, target.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
         H5Gclose(g);
       }},
      {"named datatype in place of a tensor", "neither a group nor a dataset",
       [&](hid_t f) {
         replace(f);
         const hid_t t = H5Tcopy(H5T_NATIVE_INT);
         H5Tcommit2(f, target.c_str(), t, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
         H5Tclose(t);
       }},
      {"array attribute", "not a scalar",
       [&](hid_t f) {
         const hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
         H5Adelete(root, "step");
         const hsize_t two = 2;
         const hid_t s = H5Screate_simple(1, &two, nullptr);
         const hid_t a = H5Acreate2(root, "step", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
         const std::int64_t v[2] = {3, 3};
         H5Awrite(a, H5T_NATIVE_INT64, v);
         H5Aclose(a);
         H5Sclose(s);
         H5Gclose(root);
       }},
      {"compound attribute", "unsupported type",
       [&](hid_t f) {
         const hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
         H5Adelete(root, "step");
         const hid_t t = H5Tcreate(H5T_COMPOUND, 8);
         H5Tinsert(t, "a", 0, H5T_NATIVE_INT64);
         const hid_t s = H5Screate(H5S_SCALAR);
         const hid_t a = H5Acreate2(root, "step", t, s, H5P_DEFAULT, H5P_DEFAULT);
         const std::int64_t v = 3;
         H5Awrite(a, t, &v);
         H5Aclose(a);
         H5Sclose(s);
         H5Tclose(t);
         H5Gclose(root);
       }},
      {"fixed-length string checksum", "checksum mismatch",
       [&](hid_t f) {
         const hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
         H5Adelete(root, "checksum");
         const hid_t t = H5Tcopy(H5T_C_S1);
         H5Tset_size(t, 16);
         const hid_t s = H5Screate(H5S_SCALAR);
         const hid_t a = H5Acreate2(root, "checksum", t, s, H5P_DEFAULT, H5P_DEFAULT);
         H5Awrite(a, t, "0123456789abcdef");
         H5Aclose(a);
         H5Sclose(s);
         H5Tclose(t);
         H5Gclose(root);
       }},
  };
  for (const Case& k : cases) {
    clear_slot();
    base.write(slot());
    const hid_t file = H5Fopen(slot().c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    k.mutate(file);
    ASSERT_GE(H5Fclose(file), 0) << k.name;
    reseal(slot());  // else the seal refuses it before its structure is looked at
    int inits_refused = 0;
    const Outcome outcome = try_checkpoint(slot(), k.name, inits_refused);
    EXPECT_NE(outcome, Outcome::resumed) << k.name;
    EXPECT_EQ(inits_refused, 1) << k.name;
    std::string message;
    try {
      CpuBackend<float> backend(1);
      SingleRank comm;
      Trainer(small_run(dir_ / "init"), backend, comm).init_from(slot());
    } catch (const InputError& e) {
      message = e.what();
    }
    EXPECT_NE(message.find(k.expected), std::string::npos) << k.name << ": " << message;
  }
}
#endif

}  // namespace
}  // namespace gpt::test
