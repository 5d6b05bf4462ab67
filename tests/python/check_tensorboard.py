"""TensorBoard files of real runs, read back by TensorBoard's own readers (the venv's tensorboard).

1. A short run: every metrics.jsonl record's loss, val_loss, lr, grad_norm, tokens_per_s and mfu
   is in the event file as a scalar at its step, with its value (as float32); no other scalar
   tags and no other steps; the resolved config is there as text.
2. A run killed (SIGKILL, so steps past its last checkpoint were logged) and continued with
   --resume (with another peak FLOP/s, so its mfu differs): the killed run's file is left as it
   was, and the resumed run's file opens with a SessionLog START at the step after the
   checkpoint. Every TensorBoard reader then shows each logged step once, with the final
   metrics.jsonl's value, the points after the checkpoint being the resumed run's: the legacy
   EventAccumulator, the plugin accumulator, and `tensorboard --logdir` served with
   --load_fast=false (the Python loader) and --load_fast=true (the Rust data server, where it runs).

    check_tensorboard.py --train TRAIN --config CONFIG --data DIR --workdir DIR
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np

try:
    from tensorboard.backend.event_processing import event_accumulator, event_file_loader, plugin_event_accumulator
    from tensorboard.compat.proto import event_pb2
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
        steps = [e.step for e in acc.Scalars(tag)]
        check(steps == sorted(want[tag]), f"{what}: {tag} at steps {steps}, metrics.jsonl at {sorted(want[tag])}")
        got = {e.step: e.value for e in acc.Scalars(tag)}
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


def file_start_step(path):
    """The step of the SessionLog START that opens an event file (None when there is none)."""
    for event in event_file_loader.LegacyEventFileLoader(path).Load():
        if event.HasField("session_log") and event.session_log.status == event_pb2.SessionLog.START:
            return event.step
        if event.HasField("summary"):
            return None
    return None


def plugin_scalars(run_dir):
    """{tag: [(wall_time, step, value)]} as the plugin accumulator holds them: what `tensorboard
    --load_fast=false` (the Python loader, used where the data server is not available) shows."""
    acc = plugin_event_accumulator.EventAccumulator(os.path.join(run_dir, "tb"), size_guidance={"tensors": 0})
    acc.Reload()
    return {tag: [(e.wall_time, e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
            for tag in acc.Tags()["tensors"] if tag in TAGS}


def served_scalars(run_dir, load_fast):
    """{tag: [(wall_time, step, value)]} from a `tensorboard --logdir` server's scalars API; None
    when the data server --load_fast=true asks for cannot run here."""
    server = subprocess.Popen([os.path.join(sys.prefix, "bin", "tensorboard"), "--logdir", os.path.join(run_dir, "tb"),
                               "--host", "127.0.0.1", "--port", "0", f"--load_fast={load_fast}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in server.stderr:  # "TensorBoard 2.20.0 at http://127.0.0.1:PORT/ (Press CTRL+C to quit)"
            match = re.search(r" at (http://\S+/) ", line)
            if match:
                url = match.group(1)
                break
        if url is None:
            if load_fast == "true":
                return None
            raise RuntimeError(f"tensorboard --load_fast={load_fast} did not start")
        deadline = time.time() + 60
        while True:  # the server loads the folder in the background
            with urllib.request.urlopen(url + "data/plugin/scalars/tags") as response:
                tags = json.load(response).get(".", {})
            if set(tags) >= set(TAGS) or time.time() > deadline:
                break
            time.sleep(0.5)
        got = {}
        for tag in tags:
            with urllib.request.urlopen(url + f"data/plugin/scalars/scalars?run=.&tag={tag}") as response:
                got[tag] = [tuple(point) for point in json.load(response)]
        return got
    finally:
        server.terminate()
        server.wait()


def check_resumed_view(got, want, resumed_from, resumed_at, what):
    """One point per logged step, with the final metrics.jsonl's value, and every point after the
    checkpoint written by the resumed run (wall time at or after its event file began)."""
    check(set(got) == set(want), f"{what}: scalar tags {sorted(got)}, metrics.jsonl has {sorted(want)}")
    for tag in sorted(set(got) & set(want)):
        steps = [step for _, step, _ in got[tag]]
        check(steps == sorted(want[tag]), f"{what}: {tag} at steps {steps}, metrics.jsonl at {sorted(want[tag])}")
        for wall_time, step, value in got[tag]:
            if step in want[tag]:
                check(value == float(np.float32(want[tag][step])),
                      f"{what}: {tag} at step {step} is {value}, metrics.jsonl says {want[tag][step]}")
            if step > resumed_from:
                check(wall_time >= resumed_at, f"{what}: {tag} at step {step} is the killed run's point")


def killed_and_resumed(args):
    run_dir = os.path.join(args.workdir, "resumed")
    command = train_command(args, run_dir, "--train.max_steps=16", "--checkpoint.interval=6")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    # Kill once steps past the step-6 checkpoint are logged: TensorBoard must show them once.
    metrics = os.path.join(run_dir, "metrics.jsonl")
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(metrics) and any(r["step"] >= 10 for r in records_safe(metrics)):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = {(tag, step): value for _, tag, step, value in raw_scalars(run_dir)}
    check(("loss", 10) in killed, f"the killed run did not log step 10 before it died: {sorted(killed)}")
    check(os.path.exists(os.path.join(run_dir, "checkpoints", "step_00000006.h5")), "no step-6 checkpoint")
    time.sleep(1.1)  # the next event file's name carries a later second anyway; this keeps the test honest
    # A different peak FLOP/s (a key a resume may change) makes the resumed run's mfu differ from
    # the killed run's, so the view shows whose values won.
    subprocess.run(command + ["--resume", "--train.peak_tflops=1"], check=True, stdout=subprocess.DEVNULL)

    files = event_files(run_dir)
    check(len(files) == 2, f"resumed run: event files {files}")
    want = expected_scalars(run_dir)
    check(set(want["loss"]) == set(range(2, 17, 2)), f"resumed run: loss logged at {sorted(want['loss'])}")
    check(killed.get(("mfu", 10)) != float(np.float32(want["mfu"][10])),
          "resumed run: mfu at step 10 is the same before and after the resume; the test cannot tell them apart")
    # Both files stay as written: the killed run's steps 7-10 are still in the first; the second
    # opens with a SessionLog START at step 7, which tells TensorBoard to drop what it read from 7 on.
    check(file_start_step(files[0]) == 0, f"the first run's file starts at {file_start_step(files[0])}, not 0")
    check(file_start_step(files[-1]) == 7, f"the resumed run's file starts at {file_start_step(files[-1])}, not 7")
    resumed_at = next(iter(event_file_loader.LegacyEventFileLoader(files[-1]).Load())).wall_time

    compare_to_jsonl(run_dir, "resumed run, EventAccumulator")
    check_resumed_view(plugin_scalars(run_dir), want, 6, resumed_at, "resumed run, plugin accumulator")
    check_resumed_view(served_scalars(run_dir, "false"), want, 6, resumed_at, "resumed run, tensorboard --load_fast=false")
    served = served_scalars(run_dir, "true")
    if served is None:
        print("note: tensorboard's data server cannot run here; --load_fast=true not checked")
    else:
        check_resumed_view(served, want, 6, resumed_at, "resumed run, tensorboard --load_fast=true")


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
