"""TensorBoard files of real runs, read back by TensorBoard's own readers (the venv's tensorboard).

1. A short run: every metrics.jsonl record's loss, val_loss, lr, grad_norm, tokens_per_s and mfu
   is in the event file as a scalar at its step, with its value (as float32); no other scalar
   tags and no other steps; the resolved config is there as text.
2. A run killed (SIGKILL, so steps past its last checkpoint were logged) and continued with
   --resume: read raw, event file by event file, no (tag, step) appears twice, every logged step
   is there once, and the values are those of the final metrics.jsonl. TensorBoard's accumulator
   (what `tensorboard --logdir` shows) agrees.

    check_tensorboard.py --train TRAIN --config CONFIG --data DIR --workdir DIR
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

try:
    from tensorboard.backend.event_processing import event_accumulator, event_file_loader
    from tensorboard.util import tensor_util
except ImportError as e:  # the venv exists but lacks tensorboard
    print(f"skipped: tensorboard is not importable: {e}")
    sys.exit(77)

TAGS = ("loss", "val_loss", "lr", "grad_norm", "tokens_per_s", "mfu")
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def train_command(args, run_dir, *extra):
    data = os.path.join(args.data, "tinystories")
    return [args.train, args.config, f"--data.train={data}/TinyStories-train-sample.bin",
            f"--data.val={data}/TinyStories-valid-sample.bin", f"--run.dir={run_dir}", "--log.interval=2",
            "--eval.interval=4", "--eval.batches=2", *extra]


def records(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def expected_scalars(run_dir):
    """{tag: {step: value}} from metrics.jsonl."""
    want = {}
    for r in records(run_dir):
        for tag in TAGS:
            if tag in r:
                want.setdefault(tag, {})[r["step"]] = r[tag]
    return want


def event_files(run_dir):
    tb = os.path.join(run_dir, "tb")
    return sorted(os.path.join(tb, f) for f in os.listdir(tb) if "tfevents" in f)


def raw_scalars(run_dir):
    """[(file, tag, step, value)] for every scalar of every event file, in reading order, as written
    (LegacyEventFileLoader parses the records without converting them as TensorBoard's server does)."""
    seen = []
    for path in event_files(run_dir):
        for event in event_file_loader.LegacyEventFileLoader(path).Load():
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    seen.append((os.path.basename(path), value.tag, event.step, value.simple_value))
    return seen


def compare_to_jsonl(run_dir, what):
    """TensorBoard's accumulator holds exactly metrics.jsonl's scalars."""
    want = expected_scalars(run_dir)
    acc = event_accumulator.EventAccumulator(os.path.join(run_dir, "tb"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    check(tags == set(want), f"{what}: scalar tags {sorted(tags)}, metrics.jsonl has {sorted(want)}")
    for tag in sorted(tags & set(want)):
        got = {e.step: e.value for e in acc.Scalars(tag)}
        check(sorted(got) == sorted(want[tag]),
              f"{what}: {tag} at steps {sorted(got)}, metrics.jsonl at {sorted(want[tag])}")
        for step in sorted(set(got) & set(want[tag])):
            check(got[step] == float(np.float32(want[tag][step])),
                  f"{what}: {tag} at step {step} is {got[step]}, metrics.jsonl says {want[tag][step]}")
    return acc


def check_config_text(acc, run_dir, what):
    check("config" in acc.Tags()["tensors"], f"{what}: no config text (tensor tags {acc.Tags()['tensors']})")
    if "config" not in acc.Tags()["tensors"]:
        return
    events = acc.Tensors("config")
    text = tensor_util.make_ndarray(events[-1].tensor_proto).item().decode()
    with open(os.path.join(run_dir, "config.toml")) as f:
        toml = f.read()
    # A Markdown code block: every line indented by four spaces.
    check(text == "".join("    " + line for line in toml.splitlines(keepends=True)),
          f"{what}: the config text is not config.toml as a code block:\n{text[:300]}")
    metadata = acc.SummaryMetadata("config")
    check(metadata.plugin_data.plugin_name == "text", f"{what}: config's plugin is {metadata.plugin_data.plugin_name}")


def short_run(args):
    run_dir = os.path.join(args.workdir, "short")
    subprocess.run(train_command(args, run_dir, "--train.max_steps=10", "--checkpoint.interval=0"), check=True,
                   stdout=subprocess.DEVNULL)
    want = expected_scalars(run_dir)
    check(set(want["loss"]) == {2, 4, 6, 8, 10}, f"short run: loss logged at {sorted(want['loss'])}")
    check(set(want["val_loss"]) == {0, 4, 8, 10}, f"short run: val_loss at {sorted(want['val_loss'])}")
    check("mfu" in want, "short run: no mfu in metrics.jsonl (the CPU peak is measured, so there should be)")
    check(len(event_files(run_dir)) == 1, f"short run: event files {event_files(run_dir)}")
    acc = compare_to_jsonl(run_dir, "short run")
    check_config_text(acc, run_dir, "short run")


def killed_and_resumed(args):
    run_dir = os.path.join(args.workdir, "resumed")
    command = train_command(args, run_dir, "--train.max_steps=16", "--checkpoint.interval=6")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    # Kill once steps past the step-6 checkpoint are logged: they must not appear twice.
    metrics = os.path.join(run_dir, "metrics.jsonl")
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(metrics) and any(r["step"] >= 10 for r in records_safe(metrics)):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {(tag, step) for _, tag, step, _ in raw_scalars(run_dir)}
    check(("loss", 10) in before, f"the killed run did not log step 10 before it died: {sorted(before)}")
    check(os.path.exists(os.path.join(run_dir, "checkpoints", "step_00000006.h5")), "no step-6 checkpoint")
    time.sleep(1.1)  # the next event file's name carries a later second anyway; this keeps the test honest
    subprocess.run(command + ["--resume"], check=True, stdout=subprocess.DEVNULL)

    seen = raw_scalars(run_dir)
    keys = [(tag, step) for _, tag, step, _ in seen]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    check(not duplicates, f"resumed run: (tag, step) twice in the event files: {duplicates}")
    check(len(event_files(run_dir)) == 2, f"resumed run: event files {event_files(run_dir)}")
    want = expected_scalars(run_dir)
    check(set(want["loss"]) == set(range(2, 17, 2)), f"resumed run: loss logged at {sorted(want['loss'])}")
    raw = {(tag, step): value for _, tag, step, value in seen}
    for tag, steps in want.items():
        for step, value in steps.items():
            check(raw.get((tag, step)) == float(np.float32(value)),
                  f"resumed run: raw {tag} at step {step} is {raw.get((tag, step))}, metrics.jsonl says {value}")
    check(set(raw) == {(tag, step) for tag, steps in want.items() for step in steps},
          "resumed run: the event files hold scalars metrics.jsonl does not")
    # Steps 7.. of the killed run are gone from its file; the resumed run's file starts after 6.
    first_file = event_files(run_dir)[0]
    check(max(step for f, _, step, _ in seen if f == os.path.basename(first_file)) <= 6,
          "resumed run: the killed run's file still holds steps after its checkpoint")
    compare_to_jsonl(run_dir, "resumed run")


def records_safe(path):
    out = []
    with open(path) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written
                pass
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    args.data = os.path.abspath(os.environ.get("GPT_DATA_DIR", args.data))
    args.train, args.config = os.path.abspath(args.train), os.path.abspath(args.config)
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    short_run(args)
    killed_and_resumed(args)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("tensorboard: every logged step and tag read back, no step twice after a kill and --resume")
    return 0


if __name__ == "__main__":
    sys.exit(main())
