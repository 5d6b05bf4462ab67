#!/usr/bin/env bash
# The report tool end to end, on runs made by the real trainer: two short runs with different
# learning rates and one stopped by SIGTERM and resumed; `report` over the three writes PNG charts
# (signature, size, dimensions, the three runs' line colours), index.html (every chart, each
# run's config and latest sample) and data.json (strictly increasing steps, the values of
# metrics.jsonl); a partial last line is skipped with one stderr line, a duplicated step keeps the
# later record, NaN/null/non-numeric points are counted in warnings, data.json and the page and a
# diverged loss is marked on the charts, an empty metrics.jsonl is a warning (alone, an error), bad
# input is one `error:` line and exit code 2, files in --out that report did not write are left
# alone (exit 2); headless Chromium renders the page with its charts (skipped, 77, without chromium).
# With MPIEXEC, also a run on two ranks (rank 0 alone writes the run folder's files).
#   report_cli_test.sh TRAIN_BIN REPORT_BIN CONFIG SAMPLE_DATA_DIR [MPIEXEC]   ($GPT_DATA_DIR, when set, wins)
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/cli_lib.sh"
train="$(realpath "$1")"
report="$(realpath "$2")"
config="$(realpath "$3")"
data="$(cd "${GPT_DATA_DIR:-$4}/tinystories" && pwd)"
mpiexec="${5:-}"
work="$(mktemp -d)"
trap 'if [[ -n ${job:-} ]]; then kill -9 "$job" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
cd "$work"
# The interpreter report runs under has matplotlib and PIL (python3-matplotlib depends on python3-pil).
python="$(head -1 "$report" | sed -n 's/^#!//p')"
if ! "$python" -c 'import matplotlib, PIL' 2>/dev/null; then
  echo "FAIL: $report has no Python with matplotlib: $(head -1 "$report")"
  exit 1
fi

# 1. Runs of a smaller model than tiny's (a step in under 0.1 s on 2 cores): log every 2 steps,
# evaluate every 4, a sample every 6.
common=(--data.train="$data/TinyStories-train-sample.bin" --data.val="$data/TinyStories-valid-sample.bin"
  --model.n_layer=2 --model.n_embd=64 --model.n_head=2 --model.block_size=64 --train.seq_len=64
  --train.micro_batch=2 --train.batch_tokens=256 --train.max_steps=12 --log.interval=2 --eval.interval=4
  --eval.batches=2 --log.sample_interval=6 --log.sample_tokens=16 --checkpoint.interval=0)
started=$SECONDS
for run in "run_a" "run_b --optim.lr=1e-3"; do
  read -r dir extra <<<"$run"
  # shellcheck disable=SC2086
  "$train" "$config" "${common[@]}" --run.dir="$work/$dir" $extra >"$dir.log" 2>&1 ||
    fail "train $dir exited $?: $(tail -3 "$dir.log")"
done
# Another learning rate (its curve must not hide run_a's), stopped by SIGTERM once step 4 is
# logged (train then checkpoints and exits 0; max_steps far off so the signal lands mid-run), then
# resumed up to step 12.
resumed=("${common[@]}" --optim.lr=2e-3 --run.dir="$work/run_resumed")
"$train" "$config" "${resumed[@]}" --train.max_steps=100000 >resumed.log 2>&1 &
job=$!
for _ in $(seq 1 3000); do
  grep -qE '"step":4[,}]' run_resumed/metrics.jsonl 2>/dev/null && break
  sleep 0.01
done
kill -TERM "$job"
rc=0
wait "$job" || rc=$?
job=
[[ $rc -eq 0 ]] && grep -q "stopped after step" resumed.log ||
  fail "SIGTERM: exit $rc, no stop message: $(tail -3 resumed.log)"
"$train" "$config" "${resumed[@]}" --resume >>resumed.log 2>&1 || fail "resume exited $?"
grep -q "resumed at step" resumed.log || fail "the run did not resume: $(tail -3 resumed.log)"
echo "training: $((SECONDS - started)) s"

# 2. The report of the three runs.
started=$SECONDS
"$report" run_a run_b run_resumed --out report >report.out 2>report.err || fail "report exited $?: $(cat report.err)"
echo "report: $((SECONDS - started)) s: $(cat report.out)"
[[ ! -s report.err ]] || fail "report wrote to stderr: $(cat report.err)"
"$report" run_a run_b run_resumed --out report_log --log-scale >/dev/null 2>report.err ||
  fail "--log-scale exited $?: $(cat report.err)"
cmp -s report/loss_steps.png report_log/loss_steps.png && fail "--log-scale drew the same loss chart"
"$python" - <<'PY' || fail "--log-scale: the loss axes"
import json
for out, scale in (("report", "linear"), ("report_log", "log")):
    charts = {c["file"]: c["scales"] for c in json.load(open(f"{out}/data.json"))["charts"]}
    for name, scales in charts.items():
        want = scale if name.startswith("loss_") else "linear"
        assert scales == {"x": "linear", "y": want}, (out, name, scales)
    assert "loss_steps.png" in charts and "loss_tokens.png" in charts, (out, charts)
PY

# Checks of a report folder against the run folders it was made from:
#   check_report.py REPORT_DIR LABEL=RUN_DIR ...
cat >check_report.py <<'PY'
import html, json, os, re, struct, sys, tomllib
import numpy as np  # python3-matplotlib depends on python3-numpy
from PIL import Image
out, runs = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
bad = []
page = open(os.path.join(out, "index.html"), encoding="utf-8").read()
pngs = re.findall(r'<img src="([^"]+\.png)"', page)
if not pngs:
    bad.append("index.html shows no chart")
for name in pngs:
    path = os.path.join(out, name)
    if not os.path.isfile(path):
        bad.append(f"{name}: listed in index.html, not written"); continue
    head = open(path, "rb").read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        bad.append(f"{name}: not a PNG"); continue
    w, h = struct.unpack(">II", head[16:24])
    if not (400 <= w <= 4000 and 300 <= h <= 3000):
        bad.append(f"{name}: {w}x{h}")
    if os.path.getsize(path) < 10_000:
        bad.append(f"{name}: {os.path.getsize(path)} bytes")
# A record per step, the later one winning: what metrics.jsonl says, read here independently.
expected = {}
for label, run_dir in runs.items():
    by_step = {}
    for line in open(os.path.join(run_dir, "metrics.jsonl")):
        try:
            r = json.loads(line)
        except ValueError:
            continue  # a partial line
        by_step[r["step"]] = r
    expected[label] = [by_step[s] for s in sorted(by_step)]
batch_tokens = {label: tomllib.load(open(os.path.join(d, "config.toml"), "rb"))["train"]["batch_tokens"]
                for label, d in runs.items()}
has = lambda key: any(key in r for recs in expected.values() for r in recs)
for key, chart in (("loss", "loss_steps.png"), ("loss", "loss_tokens.png"), ("lr", "lr.png"),
                   ("grad_norm", "grad_norm.png"), ("tokens_per_s", "tokens_per_s.png"), ("mfu", "mfu.png")):
    if has(key) and chart not in pngs:
        bad.append(f"index.html lacks {chart}")
    if not has(key) and (chart in pngs or os.path.exists(os.path.join(out, chart))):
        bad.append(f"{chart} drawn though no run has {key}")
    if not has(key) and f"`{key}`" not in page:
        bad.append(f"index.html does not say why {chart} is absent")
data = {r["label"]: r for r in json.load(open(os.path.join(out, "data.json")))["runs"]}
if sorted(data) != sorted(runs):
    bad.append(f"data.json runs {sorted(data)}, not {sorted(runs)}")
for label, run_dir in runs.items():
    d, recs = data.get(label, {"steps": [], "series": {}}), expected[label]
    if d["steps"] != [r["step"] for r in recs]:
        bad.append(f"{label}: steps {d['steps']} are not metrics.jsonl's {[r['step'] for r in recs]}")
    if any(b <= a for a, b in zip(d["steps"], d["steps"][1:])):
        bad.append(f"{label}: steps not strictly increasing: {d['steps']}")
    for key in ("loss", "val_loss", "lr", "grad_norm", "tokens_per_s", "mfu"):
        want = [(r["step"], r.get("tokens", r["step"] * batch_tokens[label]), r[key]) for r in recs if key in r]
        s = d["series"].get(key, {"steps": [], "tokens": [], "values": []})
        if list(zip(s["steps"], s["tokens"], s["values"])) != want:
            bad.append(f"{label}: {key} series {s} is not metrics.jsonl's {want}")
    config = open(os.path.join(run_dir, "config.toml"), encoding="utf-8").read()
    if html.escape(config) not in page:
        bad.append(f"{label}: index.html lacks its config.toml")
    samples = open(os.path.join(run_dir, "samples.txt"), encoding="utf-8").read()
    entries = re.findall(r"^--- step (\d+) ---\n(.*?)\n(?=--- step |\Z)", samples, re.MULTILINE | re.DOTALL)
    if len(entries) < 2:
        bad.append(f"{label}: samples.txt has {len(entries)} entries, not 2")
    step, latest = entries[-1] if entries else ("?", "?")
    if html.escape(latest) not in page or f"step {step})" not in page:
        bad.append(f"{label}: index.html lacks its latest sample (step {step}) {latest!r}")
    for _, text in entries[:-1]:
        if html.escape(text) in page:
            bad.append(f"{label}: index.html shows an earlier sample {text!r}")
# The overlay: each run's line colour (matplotlib's first three) drawn across the loss chart.
if "loss_steps.png" in pngs:
    image = np.asarray(Image.open(os.path.join(out, "loss_steps.png")).convert("RGB"), dtype=int)
    for colour in [(31, 119, 180), (255, 127, 14), (44, 160, 44)][:len(runs)]:
        n = int((np.abs(image - colour) < 40).all(axis=2).sum())
        if n < 300:
            bad.append(f"loss_steps.png: {n} pixels of the colour {colour}")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
"$python" check_report.py report run_a=run_a run_b=run_b run_resumed=run_resumed || fail "the report of three runs"
resumed_at=$(sed -n 's/^resumed at step \([0-9]*\).*/\1/p' resumed.log)
[[ -n $resumed_at && $resumed_at -ge 4 && $resumed_at -lt 12 ]] || fail "resumed at step '$resumed_at', not 4..11"
"$python" - <<'PY' || fail "the resumed run's steps"
import json
d = {r["label"]: r for r in json.load(open("report/data.json"))["runs"]}
assert d["run_resumed"]["steps"] == d["run_a"]["steps"] == [0, 2, 4, 6, 8, 10, 12], d["run_resumed"]["steps"]
PY

# 3. A run still being written: its last line cut in half.
cp -r run_a cut
"$python" - <<'PY'
lines = open("cut/metrics.jsonl").read().split("\n")[:-1]
open("cut/metrics.jsonl", "w").write("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
PY
"$report" cut --out report_cut >/dev/null 2>cut.err || fail "a partial last line: report exited $?: $(cat cut.err)"
[[ $(wc -l <cut.err) -eq 1 ]] && grep -q 'partial last line' cut.err ||
  fail "a partial last line: stderr is $(cat cut.err)"
"$python" check_report.py report_cut cut=cut || fail "the report of a run with a partial last line"
"$python" -c 'import json, sys; a, b = (json.load(open(f"{d}/data.json"))["runs"][0]["steps"] for d in sys.argv[1:])
assert a == b[:-1], (a, b)' report_cut report || fail "the run with a partial last line lacks complete records"

# A run on two ranks: the report reads rank 0's files like any other.
if [[ -n "$mpiexec" ]]; then
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 \
    "$mpiexec" -np 2 --oversubscribe "$train" "$config" "${common[@]}" --run.dir="$work/run_mpi" >mpi.log 2>&1 ||
    fail "two-rank train exited $?: $(tail -3 mpi.log)"
  "$report" run_mpi --out report_mpi >/dev/null 2>mpi.err || fail "report of a two-rank run exited $?: $(cat mpi.err)"
  "$python" check_report.py report_mpi run_mpi=run_mpi || fail "the report of a two-rank run"
  grep -q '"comm_ms"' run_mpi/metrics.jsonl || fail "the two-rank run's metrics.jsonl has no comm_ms: not two ranks?"
fi

# 4. A step twice, as an old run that crashed after its checkpoint leaves it: the later record wins.
cp -r run_a dup
echo '{"grad_norm":0.5,"loss":5.25,"lr":0.0001,"ms":1.0,"step":4,"tokens_per_s":1000.0}' >>dup/metrics.jsonl
"$report" dup --out report_dup >/dev/null 2>dup.err || fail "a duplicated step: report exited $?: $(cat dup.err)"
"$python" check_report.py report_dup dup=dup || fail "the report of a run with a duplicated step"
"$python" - <<'PY' || fail "a duplicated step: the later record does not win"
import json
run = json.load(open("report_dup/data.json"))["runs"][0]
assert run["steps"].count(4) == 1, run["steps"]
loss = dict(zip(run["series"]["loss"]["steps"], run["series"]["loss"]["values"]))
assert loss[4] == 5.25, loss
assert 4 not in run["series"]["val_loss"]["steps"], run["series"]["val_loss"]
PY

# 5. A run that went NaN: the train loss NaN from step 8 on, a null val_loss (what the trainer's
# JSON writer makes of NaN) and a string grad_norm. Each run and reason is one warning line with the
# count and steps, data.json and the page say so, and the loss charts mark the step where it diverged.
cp -r run_a diverged
cp -r run_a diverged_unmarked  # the same points plotted, the dropped ones absent instead of NaN
"$python" - <<'PY'
import json
for run, drop in (("diverged", False), ("diverged_unmarked", True)):
    records = [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
    for r in records:
        for key, value, at in (("loss", float("nan"), r["step"] >= 8), ("val_loss", None, r["step"] == 12),
                               ("grad_norm", "high", r["step"] == 10)):
            if at and key in r:
                if drop:
                    del r[key]
                else:
                    r[key] = value
    open(f"{run}/metrics.jsonl", "w").write("".join(json.dumps(r) + "\n" for r in records))  # NaN as NaN
PY
"$report" diverged --out report_nan >/dev/null 2>nan.err || fail "a NaN loss: report exited $?: $(cat nan.err)"
"$report" diverged_unmarked --out report_unmarked >/dev/null 2>unmarked.err ||
  fail "the run without its NaN points: report exited $?: $(cat unmarked.err)"
"$python" - diverged/metrics.jsonl <<'PY' || fail "a NaN loss: the warnings, data.json or the page"
import json, sys
path = sys.argv[1]
# Which points are dropped and why, from metrics.jsonl itself.
want = {}
for line in open(path):
    r = json.loads(line)
    for key in ("loss", "val_loss", "grad_norm"):
        v = r.get(key, 0.0)
        reason = "null" if v is None else "not a number" if isinstance(v, str) else "NaN" if v != v else None
        if reason:
            want.setdefault((key, reason), []).append(r["step"])
assert len(want) == 3 and len(want[("loss", "NaN")]) >= 2, want
lines = [f"{len(s)} point{'s' if len(s) > 1 else ''} dropped ({key} is {reason} at "
         f"step{'s' if len(s) > 1 else ''} {', '.join(map(str, s))})" for (key, reason), s in want.items()]
err = open("nan.err").read().splitlines()
assert sorted(err) == sorted(f"warning: {path}: {l}" for l in lines), err
run = json.load(open("report_nan/data.json"))["runs"][0]
assert sorted((d["key"], d["reason"], tuple(d["steps"])) for d in run["dropped"]) == \
    sorted((k, r, tuple(s)) for (k, r), s in want.items()), run["dropped"]
first_nan = want[("loss", "NaN")][0]
assert run["non_finite"]["loss"]["step"] == first_nan, run["non_finite"]
assert run["non_finite"]["val_loss"]["reason"] == "null", run["non_finite"]
assert "grad_norm" not in run["non_finite"], run["non_finite"]  # a string is bad input, not divergence
assert all(s < first_nan for s in run["series"]["loss"]["steps"]), run["series"]["loss"]
page = open("report_nan/index.html").read()
for l in lines:
    assert l in page, f"index.html lacks {l!r}"
assert f"train loss NaN from step {first_nan}" in page, "index.html does not say where the loss went NaN"
PY
# The mark: more of the run's colour (the first, blue) on each loss chart than on the same points without it.
"$python" - <<'PY' || fail "a NaN loss: no mark on the loss charts"
import numpy as np
from PIL import Image
blue = lambda path: int((np.abs(np.asarray(Image.open(path).convert("RGB"), dtype=int) - (31, 119, 180)) < 40)
                        .all(axis=2).sum())
for chart in ("loss_steps.png", "loss_tokens.png"):
    marked, unmarked = blue(f"report_nan/{chart}"), blue(f"report_unmarked/{chart}")
    assert marked > unmarked + 200, f"{chart}: {marked} blue pixels with the NaN points, {unmarked} without"
PY

# 6. An empty metrics.jsonl (a run that has not logged its first step) beside a run with records:
# one warning line, and the page lists the run and says why it has no data. Alone, it is an error (7).
mkdir not_started
: >not_started/metrics.jsonl
"$report" run_a not_started --out report_not_started >/dev/null 2>not_started.err ||
  fail "an empty metrics.jsonl beside a run: report exited $?: $(cat not_started.err)"
[[ $(wc -l <not_started.err) -eq 1 ]] && grep -q '^warning: not_started/metrics.jsonl: no step records (the file is empty)' not_started.err ||
  fail "an empty metrics.jsonl: stderr is not one warning line naming it: $(cat not_started.err)"
grep -q 'not_started: no step records in metrics.jsonl (the file is empty)' report_not_started/index.html ||
  fail "an empty metrics.jsonl: index.html does not say so"

# 7. Bad input: exit code 2 and one `error:` line naming the path; never a traceback.
expect_bad_input() {
  local what="$1" fragment="$2"
  shift 2
  expect_refusal "$what" "$fragment" -- "$report" "$@"
}
mkdir empty_run
expect_bad_input "no metrics.jsonl" "empty_run/metrics.jsonl" run_a empty_run --out bad
expect_bad_input "a missing folder" "missing_run" missing_run --out bad
expect_bad_input "no arguments" "RUN_DIR"
expect_bad_input "no runs" "no run folders" --out bad
expect_bad_input "no --out" "--out" run_a
expect_bad_input "an unwritable --out" "run_a.log/report" run_a --out run_a.log/report
expect_bad_input "only an empty metrics.jsonl" "not_started/metrics.jsonl (the file is empty): no step records" \
  not_started --out bad
[[ ! -e bad ]] || fail "bad input left an output folder"

# 8. --out: report replaces or deletes only the files it wrote there (its record, .report-files.json,
# holds their SHA-256). Into an earlier report's folder it writes again, removing its own chart that
# this report lacks and leaving the user's other files alone; a user's file with one of its names, or
# one of its files changed since, is an error and is left as it was.
cp -r run_a no_mfu
"$python" - <<'PY'
import json
records = [json.loads(line) for line in open("no_mfu/metrics.jsonl")]
open("no_mfu/metrics.jsonl", "w").write("".join(json.dumps({k: v for k, v in r.items() if k != "mfu"}) + "\n"
                                                for r in records))
PY
cp -r report report_again
echo "my notes" >report_again/notes.txt
[[ -f report_again/mfu.png ]] || fail "--out: the first report has no mfu.png to remove"
"$report" no_mfu --out report_again >/dev/null 2>again.err || fail "--out: a second report into the first's folder exited $?: $(cat again.err)"
[[ ! -e report_again/mfu.png ]] || fail "--out: the earlier report's mfu.png was not removed"
[[ $(cat report_again/notes.txt) == "my notes" ]] || fail "--out: the user's notes.txt was changed"
mkdir users_chart users_page
echo "my own chart" >users_chart/mfu.png
expect_bad_input "a user's mfu.png in --out" "users_chart/mfu.png: not written by report" no_mfu --out users_chart
[[ $(ls -A users_chart) == "mfu.png" && $(cat users_chart/mfu.png 2>&1) == "my own chart" ]] ||
  fail "--out: a refused folder was changed: $(ls -A users_chart | tr '\n' ' ')"
echo "<p>my page</p>" >users_page/index.html
expect_bad_input "a user's index.html in --out" "users_page/index.html: not written by report" run_a --out users_page
[[ $(ls -A users_page) == "index.html" && $(cat users_page/index.html 2>&1) == "<p>my page</p>" ]] ||
  fail "--out: a refused folder was changed: $(ls -A users_page | tr '\n' ' ')"
echo "edited" >>report_again/lr.png
cp report_again/lr.png lr_changed.png
expect_bad_input "a report's chart changed since" "report_again/lr.png: changed since report wrote it" run_a --out report_again
cmp -s report_again/lr.png lr_changed.png || fail "--out: the changed lr.png was replaced"
mkdir foreign_record
echo '{"files": {}}' >foreign_record/.report-files.json
expect_bad_input "a .report-files.json report did not write" "foreign_record/.report-files.json" run_a --out foreign_record

# 9. The page in headless Chromium: the charts are shown, not broken images or a blank page.
if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
if ! command -v chromium >/dev/null; then
  echo "SKIP: chromium is not installed (apt-get install chromium), so the page was not rendered"
  exit 77
fi
# A fresh profile and HOME (a bare chroot has no usable HOME), no /dev/shm (a chroot may lack it),
# no sandbox (root), a time limit so a stuck browser fails the test instead of hanging it.
mkdir -p home
shot() {
  HOME="$work/home" XDG_CONFIG_HOME="$work/home" XDG_CACHE_HOME="$work/home" timeout -k 5 60 \
    chromium "$1" --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --no-default-browser-check \
    --disable-extensions --user-data-dir="$work/profile" --hide-scrollbars --window-size=1280,2400 \
    --screenshot="$work/shot.png" "file://$work/report/index.html" >chromium.log 2>&1
}
started=$SECONDS
shot --headless || shot --headless=new || fail "chromium exited $?: $(tail -5 chromium.log)"
"$python" - <<'PY' || fail "the screenshot of the page"
import numpy as np
from PIL import Image
shot = Image.open("shot.png").convert("RGB")
assert shot.size == (1280, 2400), shot.size
image = np.asarray(shot, dtype=int)
dark = int((image.min(axis=2) < 200).sum())
assert dark > 0.02 * 1280 * 2400, f"only {dark} non-white pixels: a blank page"
colours = len(shot.getcolors(1 << 24))
assert colours > 50, f"{colours} colours"
# The loss chart's three line colours, each spread across a chart's width: the images loaded.
for colour in [(31, 119, 180), (255, 127, 14), (44, 160, 44)]:
    xs = np.nonzero((np.abs(image - colour) < 40).all(axis=2))[1]
    assert len(xs) > 200 and xs.max() - xs.min() > 300, f"colour {colour}: {len(xs)} pixels"
print(f"screenshot: {dark} non-white pixels, {colours} colours")
PY
echo "chromium and its checks: $((SECONDS - started)) s"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "report CLI: all checks passed in ${SECONDS} s"
