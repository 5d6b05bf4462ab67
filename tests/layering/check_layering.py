#!/usr/bin/env python3
"""The build's layering holds: each library's sources can include the headers of what it links, and
not the others (cmake/Layering.cmake). For one source file of each library, takes its compile
command from compile_commands.json and compiles one-line probes with the same include folders:
an allowed header must compile, a forbidden one must fail with "No such file or directory".

Usage: check_layering.py BUILD_DIR SOURCE_DIR CXX_COMPILER
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile

# source file of the library -> (headers it may include, headers it must not see)
RULES = {
    "data/sampler.cpp": (["core/tensor.h", "core/errors.h", "data/token_file.h", "core/files/atomic_file.h"],
                         ["core/model/gpt.h", "core/ops/backend.h", "core/ops/cpu/cpu_backend.h",
                          "dist/communicator.h", "train/trainer.h", "data/tokenizer/tokenizer.h"]),
    "data/tokenizer/tokenizer.cpp": (["core/errors.h", "data/tokenizer/utf8.h"],
                                     ["data/token_file.h", "data/prepare/prepare.h", "core/ops/backend.h",
                                      "core/model/gpt.h", "train/trainer.h"]),
    "data/prepare/prepare.cpp": (["data/token_file_writer.h", "data/tokenizer/tokenizer.h"],
                                 ["core/model/gpt.h", "core/ops/backend.h", "dist/communicator.h",
                                  "train/trainer.h"]),
    "launch/prepare_main.cpp": (["data/prepare/prepare.h", "launch/stop_signals.h", "core/cpu_count.h"],
                                ["core/model/gpt.h", "core/ops/cpu/cpu_backend.h", "train/trainer.h",
                                 "dist/communicator.h"]),
    "dist/mpi_runtime.cpp": (["core/tensor.h", "dist/communicator.h", "dist/bounded_exit.h"],
                             ["core/model/gpt.h", "core/ops/cpu/cpu_backend.h", "data/sampler.h",
                              "train/trainer.h"]),
    "core/model/gpt.cpp": (["core/ops/backend.h", "core/rng.h", "core/model/param_table.h"],
                           ["core/ops/cpu/cpu_backend.h", "core/ops/cuda/cuda_backend.h",
                            "core/ops/make_backend.h", "data/sampler.h", "dist/communicator.h",
                            "train/trainer.h"]),
    "core/ops/cpu/cpu_backend.cpp": (["core/ops/backend.h", "core/ops/cpu/matmul.h"],
                                     ["core/model/gpt.h", "core/ops/cuda/cuda_backend.h", "data/sampler.h"]),
    "core/ops/cuda/cuda_backend.cu": (["core/ops/backend.h"],
                                      ["core/model/gpt.h", "core/ops/cpu/cpu_backend.h", "data/sampler.h"]),
    "train/checkpoint/model_checkpoint.cpp": (["core/model/gpt.h", "train/checkpoint/checkpoint_file.h", "core/errors.h"],
                                   ["train/trainer.h", "train/optimizer.h", "train/run_config.h", "dist/communicator.h",
                                    "train/observe/metrics.h", "dist/zero.h",
                                    "core/ops/cpu/cpu_backend.h", "data/sampler.h"]),
    "train/run_config.cpp": (["core/model/model_config.h", "data/sampler.h", "core/errors.h"],
                             ["train/trainer.h", "train/checkpoint/checkpoint_file.h", "dist/communicator.h",
                              "core/ops/cpu/cpu_backend.h"]),
    "core/generate/sampling.cpp": (["core/rng.h", "core/errors.h", "core/generate/sampling.h",
                                    "core/generate/beam_search.h"],
                                   ["core/model/gpt.h", "core/ops/backend.h", "data/tokenizer/tokenizer.h",
                                    "train/trainer.h", "data/sampler.h", "core/generate/generator.h"]),
    "core/generate/generator.cpp": (["core/model/gpt.h", "core/model/kv_cache.h", "core/generate/sampling.h"],
                                    ["core/ops/cpu/cpu_backend.h", "data/tokenizer/tokenizer.h", "train/trainer.h",
                                     "train/checkpoint/checkpoint_file.h", "data/sampler.h"]),
    "launch/generate_main.cpp": (["core/generate/generator.h", "data/tokenizer/tokenizer.h",
                                  "train/checkpoint/model_checkpoint.h", "train/run_config.h", "core/ops/make_backend.h"],
                                 ["train/trainer.h", "train/optimizer.h", "dist/communicator.h", "dist/zero.h",
                                  "train/observe/metrics.h", "data/prepare/prepare.h"]),
    "train/checkpoint/hf/gpt2_folder.cpp": (["core/model/gpt.h", "train/checkpoint/hf/safetensors.h", "core/half_float.h"],
                                 ["train/trainer.h", "train/optimizer.h", "train/run_config.h",
                                  "dist/communicator.h", "core/ops/cpu/cpu_backend.h", "data/tokenizer/tokenizer.h"]),
    "launch/export_main.cpp": (["train/checkpoint/hf/gpt2_folder.h", "train/checkpoint/model_checkpoint.h", "train/run_config.h",
                                "data/tokenizer/tokenizer.h"],
                               ["train/trainer.h", "train/optimizer.h", "dist/communicator.h", "dist/zero.h",
                                "core/ops/make_backend.h", "core/ops/cpu/cpu_backend.h", "core/generate/generator.h"]),
    "train/trainer.cpp": (["core/model/gpt.h", "data/sampler.h", "dist/communicator.h", "dist/zero.h",
                           "train/observe/metrics.h", "train/checkpoint/checkpoint_folder.h"],
                          ["core/ops/cpu/cpu_backend.h", "core/ops/cuda/cuda_backend.h",
                           "core/ops/make_backend.h"]),
    # dist/ knows the model and the communicators; the optimizer, the trainer and the files are above it.
    "dist/zero.cpp": (["core/model/gpt.h", "dist/communicator.h", "dist/grad_sync.h"],
                      ["train/optimizer.h", "train/trainer.h", "train/run_config.h",
                       "train/checkpoint/checkpoint_file.h", "core/ops/cpu/cpu_backend.h", "data/sampler.h"]),
    # What a run shows of itself reads the model and the ranks, never the loop or its files.
    "train/observe/metrics.cpp": (["train/run_config.h", "core/files/atomic_file.h", "train/observe/tensorboard.h"],
                                  ["train/trainer.h", "train/optimizer.h", "dist/zero.h",
                                   "train/checkpoint/checkpoint_file.h", "core/ops/cpu/cpu_backend.h"]),
    # The files every tool writes: errors and file kinds below them, nothing else.
    "core/files/atomic_file.cpp": (["core/errors.h", "core/file_kind.h"],
                                    ["core/model/gpt.h", "core/ops/backend.h", "data/token_file.h",
                                     "train/checkpoint/checkpoint_file.h"]),
}

# Built only when their dependency was found (CUDA; PCRE2 for the tokenizer and prepare).
OPTIONAL = {"core/ops/cuda/cuda_backend.cu", "data/tokenizer/tokenizer.cpp", "data/prepare/prepare.cpp",
            "launch/prepare_main.cpp", "launch/generate_main.cpp", "launch/export_main.cpp"}


def expand_response_files(args, directory, depth=0):
    """args with each response file replaced by its contents: nvcc's `--options-file FILE` (or
    `-optf FILE`, `--options-file=FILE`), which CMake's Makefiles generator uses for nvcc's include
    folders, and GCC's `@FILE`; a relative FILE is relative to the entry's directory."""
    expanded, i = [], 0
    while i < len(args):
        a, path = args[i], None
        if a in ("--options-file", "-optf") and i + 1 < len(args):
            path = args[i + 1]
            i += 1
        elif a.startswith("--options-file="):
            path = a.split("=", 1)[1]
        elif a.startswith("@") and len(a) > 1:
            path = a[1:]
        if path is None:
            expanded.append(a)
        elif depth > 8:
            raise OSError(f"response files nested deeper than 8 at {path}")
        else:
            with open(os.path.join(directory, path)) as f:
                expanded += expand_response_files(shlex.split(f.read()), directory, depth + 1)
        i += 1
    return expanded


def include_flags(entry):
    """The -I, -isystem and -D flags of a compile_commands.json entry (response files expanded,
    relative folders made absolute: the probes compile elsewhere) and -std=c++20."""
    directory = entry["directory"]
    args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    args = expand_response_files(args, directory)
    folder = lambda d: os.path.join(directory, d)  # an absolute d stays as it is
    flags, i = [], 0
    while i < len(args):
        a = args[i]
        if a in ("-I", "-isystem") and i + 1 < len(args):
            flags += [a, folder(args[i + 1])]
            i += 2
            continue
        if a.startswith("-isystem"):
            d = a[len("-isystem"):]
            flags += ["-isystem", folder(d[1:] if d.startswith("=") else d)]  # nvcc writes -isystem=DIR
        elif a.startswith("-I"):
            flags.append("-I" + folder(a[2:]))
        elif a.startswith("-D"):
            flags.append(a)
        i += 1
    return flags + ["-std=c++20"]


def main():
    build, source, cxx = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3]
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = {os.path.realpath(os.path.join(e["directory"], e["file"])): e for e in json.load(f)}
    failures, checked = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for src, (allowed, forbidden) in RULES.items():
            entry = entries.get(os.path.join(source, src))
            if entry is None:
                if src in OPTIONAL:
                    continue  # not in this build
                failures.append(f"{src}: not in compile_commands.json")
                continue
            try:
                flags = include_flags(entry)
            except OSError as e:
                failures.append(f"{src}: cannot read its response file: {e}")
                continue
            for header, want in [(h, True) for h in allowed] + [(h, False) for h in forbidden]:
                probe = os.path.join(tmp, "probe.cpp")
                with open(probe, "w") as p:
                    p.write(f'#include "{header}"\n')
                r = subprocess.run([cxx, "-fsyntax-only", *flags, probe], capture_output=True, text=True)
                checked += 1
                if want and r.returncode != 0:
                    failures.append(f"{src}: may include {header}, but it does not compile:\n{r.stderr[:600]}")
                if not want and (r.returncode == 0 or "No such file or directory" not in r.stderr):
                    failures.append(f"{src}: must not see {header}, but "
                                    + ("it compiles" if r.returncode == 0 else f"it failed otherwise:\n{r.stderr[:600]}"))
    for f in failures:
        print("FAIL:", f)
    print(f"{checked} includes checked, {len(failures)} wrong")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
