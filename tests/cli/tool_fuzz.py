#!/usr/bin/python3
"""Bounded random fuzzing of generate's and export's command lines and of the Hugging Face folders
that generate --hf and train --init-from hf: read, with the real binaries as a user runs them.

Whatever the flags or the folder's bytes, a tool either succeeds (exit 0) or refuses with exit 2
and exactly one stderr line "error: ..."; exit 1, a signal, a hang (60 s), more than 8 GiB of
address space (a refusal must come before the allocation; 1024 OpenMP threads reserve 8 GiB of stacks) or a second error line is a bug. Both
outcomes must occur in each loop. A fixed seed keeps it repeatable; GPT_FUZZ_ITERATIONS=N runs N
cases per loop instead of the defaults (about three minutes on two cores in all).

    tool_fuzz.py --train BIN --generate BIN --export BIN --config tiny.toml --data DIR --workdir DIR
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys

TIMEOUT_S = 60
ADDRESS_SPACE = 16 << 30  # below this machine's memory: an allocation the checks should refuse fails here

# Values that have broken number parsing somewhere: signs, overflow at every width, floats where
# integers belong, text, empty, spaces, hex and exponent forms.
HOSTILE_NUMBERS = ["0", "-1", "1", "2", "7", "-0", "2147483647", "2147483648", "4294967296", "9223372036854775807",
                   "9223372036854775808", "18446744073709551615", "18446744073709551616", "1e3", "1e308", "nan",
                   "inf", "-inf", "0.5", "-0.5", "1.5", "", " ", "abc", "0x10", "08", "1_000", "9" * 40, "+3"]


def run(cmd, cwd):
    """(exit code or -signal, stdout, stderr); None for the code when it hung."""
    def limit():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=TIMEOUT_S, preexec_fn=limit,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        return None, e.stdout or b"", e.stderr or b""
    return p.returncode, p.stdout, p.stderr


class Verdicts:
    def __init__(self, name):
        self.name, self.ok, self.refused, self.bugs = name, 0, 0, []

    def judge(self, cmd, result, what):
        code, _, err = result
        text = err.decode("utf-8", "replace")
        error_lines = [line for line in text.splitlines() if line.startswith("error:")]
        if code == 0 and not error_lines:
            self.ok += 1
        elif code == 2 and len(text.strip().splitlines()) == 1 and len(error_lines) == 1:
            self.refused += 1
        else:
            why = "hung" if code is None else f"exit {code}"
            self.bugs.append(f"{self.name}: {what}: {why}: {' '.join(cmd)}\n    stderr: {text.strip()[:600]}")

    def report(self):
        print(f"{self.name}: {self.ok} succeeded, {self.refused} refused, {len(self.bugs)} bugs")
        for b in self.bugs:
            print("BUG", b)
        if self.ok == 0 or self.refused == 0:
            self.bugs.append(f"{self.name}: only one outcome ({self.ok} succeeded, {self.refused} refused)")
            print("BUG", self.bugs[-1])
        return not self.bugs


def iterations(default):
    return int(os.environ.get("GPT_FUZZ_ITERATIONS", default))


def hostile_value(rng, sane):
    return rng.choice(sane) if rng.random() < 0.4 else rng.choice(HOSTILE_NUMBERS)


def fuzz_generate_flags(rng, a, work):
    v = Verdicts("generate flags")
    # Valid values kept small where a valid value means work (tokens to generate, sequences).
    flags = {
        "--max-new-tokens": ["1", "4", "8", "1000000000000", "1000000000001"],
        "--temperature": ["0", "0.8", "1", "2"],
        "--top-k": ["0", "1", "50", "50257", "100000"],
        "--top-p": ["0.1", "0.9", "1"],
        "--seed": ["0", "1337", "18446744073709551615"],
        "--num-samples": ["1", "2", "3", "60000", "1073741824", "1073741825"],
        "--beam-width": ["1", "2", "3", "60000", "1073741824"],
        "--length-penalty": ["0", "1", "-2"],
        "--slide": ["0", "1", "31", "32", "1000"],
        "--threads": ["1", "2", "1024", "1025"],
        "--backend": ["cpu", "auto", "tpu", ""],
        "--precision": ["auto", "fp32", "bf16", "fp8"],
    }
    for i in range(iterations(150)):
        cmd = [a.generate, "--run-dir", "run", "--prompt", rng.choice(["Once upon a time", "x", "\u00e9\u4e2d", ""])]
        chosen = rng.sample(sorted(flags), rng.randint(1, 4))
        for flag in chosen:
            cmd += [flag, hostile_value(rng, flags[flag])]
        if "--max-new-tokens" not in chosen:
            cmd += ["--max-new-tokens", "4"]
        if rng.random() < 0.1:
            cmd += [rng.choice(["--show-beams", "--no-such-flag", "--checkpoint", "--hf"])]
        v.judge(cmd, run(cmd, work), f"case {i}")
    return v.report()


def fuzz_export_flags(rng, a, work):
    v = Verdicts("export flags")
    targets = ["out", "", "run/config.toml", "nested/deeper/out", "out with space", "x" * 300, "/proc/nope/x",
               "run", ".", "fifo_target", "hf"]
    sources = [["--run-dir", "run"], ["--checkpoint", "run/checkpoints/step_00000001.h5"], ["--run-dir", "nowhere"],
               ["--checkpoint", "truncated.h5"], ["--checkpoint", "run"], ["--checkpoint", "fifo.h5"],
               ["--checkpoint", ""], []]
    for i in range(iterations(80)):
        cmd = [a.export] + rng.choice(sources)
        if rng.random() < 0.9:
            cmd += ["--hf-out", rng.choice(targets) + rng.choice(["", "", "/", "/.."])]
        if rng.random() < 0.5:
            cmd += ["--dtype", rng.choice(["float32", "float16", "bfloat16", "float8", "", "FLOAT32"])]
        if rng.random() < 0.1:
            cmd += ["--vocab-dir", rng.choice(["nowhere", "run", ""])]
        v.judge(cmd, run(cmd, work), f"case {i}")
        for leftover in os.listdir(work):
            if ".tmp-" in leftover or ".old-" in leftover:
                v.bugs.append(f"export flags: case {i} left {leftover} behind: {' '.join(cmd)}")
    return v.report()


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    return raw, json.loads(raw[8:8 + n]), n


def mutate_config(rng, folder):
    path = os.path.join(folder, "config.json")
    with open(path) as f:
        config = json.load(f)
    values = [-1, 0, 1, 2, 3, 64, 1000000000, 2 ** 32, 2 ** 32 + 1, 2 ** 40, 2 ** 63 - 1, 2 ** 64, 1.5, 1e300, "12",
              None, True, [], {}, "gpt2", "gelu", "relu", 1e-5, 1e-6]
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(["n_layer", "n_embd", "n_head", "n_positions", "vocab_size", "n_inner", "model_type",
                          "activation_function", "layer_norm_epsilon", "tie_word_embeddings", "scale_attn_weights",
                          "add_cross_attention"])
        if rng.random() < 0.15:
            config.pop(key, None)
        else:
            config[key] = rng.choice(values)
    text = json.dumps(config)
    if rng.random() < 0.15:  # not JSON any more
        cut = rng.randrange(len(text))
        text = text[:cut] + rng.choice(["", "\x00", "}", "\xff", "[["]) + text[cut + 1:]
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)


def mutate_weights(rng, folder):
    path = os.path.join(folder, "model.safetensors")
    raw, header, n = read_safetensors(path)
    kind = rng.randrange(4)
    if kind == 0:  # truncated anywhere
        raw = raw[:rng.randrange(len(raw))]
    elif kind == 1:  # bytes flipped in the header or the data
        raw = bytearray(raw)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(min(len(raw), 8 + n + 64) if rng.random() < 0.7 else len(raw))
            raw[at] = rng.randrange(256)
        raw = bytes(raw)
    else:  # one tensor's entry edited
        name = rng.choice([k for k in header if k != "__metadata__"])
        entry = header[name]
        if kind == 2:
            entry["shape"] = [rng.choice([0, 1, -1, 2 ** 31, 2 ** 62, 3]) for _ in range(rng.randint(0, 3))]
        else:
            entry[rng.choice(["dtype", "data_offsets"])] = rng.choice(
                ["F64", "I8", "BF16", "F16", [0, 2 ** 63], [-1, 4], [8, 4], None, "F32"])
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        raw = struct.pack("<Q", len(text)) + text + raw[8 + n:]
    with open(path, "wb") as f:
        f.write(raw)


def fuzz_hf_folders(rng, a, work, data):
    v = Verdicts("HF folders")
    for i in range(iterations(120)):
        folder = os.path.join(work, "mutant")
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(os.path.join(work, "hf"), folder)
        what = rng.random()
        if what < 0.45:
            mutate_config(rng, folder)
        elif what < 0.9:
            mutate_weights(rng, folder)
        else:
            mutate_config(rng, folder)
            mutate_weights(rng, folder)
        cmd = [a.generate, "--hf", folder, "--prompt", "Once", "--max-new-tokens", "4"]
        v.judge(cmd, run(cmd, work), f"case {i}")
        if i % 5 == 0:  # train is slower to start: every fifth folder
            shutil.rmtree(os.path.join(work, "ft"), ignore_errors=True)
            cmd = [a.train, a.config, f"--data.train={data}/TinyStories-train-sample.bin", "--eval.interval=0",
                   "--log.tensorboard=false", "--train.max_steps=1", "--model.n_layer=1", "--model.n_embd=32",
                   "--model.n_head=2", "--checkpoint.interval=0", "--run.dir=ft", f"--init-from=hf:{folder}"]
            v.judge(cmd, run(cmd, work), f"case {i} (train)")
    return v.report()


def main():
    p = argparse.ArgumentParser()
    for name in ("train", "generate", "export", "config", "data", "workdir"):
        p.add_argument("--" + name, required=True)
    a = p.parse_args()
    a.train, a.generate, a.export, a.config = (os.path.realpath(x) for x in (a.train, a.generate, a.export, a.config))
    data = os.path.realpath(os.path.join(os.environ.get("GPT_DATA_DIR", a.data), "tinystories"))
    work = a.workdir
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    small = ["--model.n_layer=1", "--model.n_embd=32", "--model.n_head=2", "--eval.interval=0",
             "--log.tensorboard=false", f"--data.train={data}/TinyStories-train-sample.bin"]
    code, _, err = run([a.train, a.config, *small, "--train.max_steps=1", "--run.dir=run"], work)
    code2, _, err2 = run([a.export, "--run-dir", "run", "--hf-out", "hf"], work)
    if code != 0 or code2 != 0:
        print("setup failed:", err.decode()[-800:], err2.decode()[-800:])
        return 1
    with open(os.path.join(work, "truncated.h5"), "wb") as f, open(
            os.path.join(work, "run/checkpoints/step_00000001.h5"), "rb") as g:
        f.write(g.read()[:50000])
    os.mkfifo(os.path.join(work, "fifo.h5"))
    os.mkfifo(os.path.join(work, "fifo_target"))
    rng = random.Random(20261207)
    results = [fuzz_generate_flags(rng, a, work), fuzz_export_flags(rng, a, work), fuzz_hf_folders(rng, a, work, data)]
    if all(results):
        shutil.rmtree(work, ignore_errors=True)
        print("tool fuzz: every case succeeded or was refused with one error line")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
