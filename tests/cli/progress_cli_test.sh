#!/usr/bin/env bash
# What `train` shows while it runs, as a user sees it: the startup summary (its parameter counts
# and FLOPs per token checked against the formulas computed here by hand), log lines with MFU and
# ETA, metrics.jsonl with mfu and tokens, no control characters when the output is a file, a
# status line redrawn in place on a terminal, no MFU for an impossible peak, TensorBoard files
# only when log.tensorboard is on, and one summary for a two-rank job.
#   progress_cli_test.sh TRAIN_BIN CONFIG SAMPLE_DATA_DIR [MPIEXEC]   ($GPT_DATA_DIR, when set, wins)
set -uo pipefail
source "$(cd "$(dirname "$0")" && pwd)/cli_lib.sh"
train="$(realpath "$1")"
config="$(realpath "$2")"
data="$(cd "${GPT_DATA_DIR:-$3}/tinystories" && pwd)"
mpiexec="${4:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
args=(--data.train="$data/TinyStories-train-sample.bin" --data.val="$data/TinyStories-valid-sample.bin"
  --train.max_steps=8 --log.interval=2 --eval.interval=4 --eval.batches=2 --checkpoint.interval=0)

# 1. Output to a file.
"$train" "$config" "${args[@]}" --run.dir=run >log.txt 2>&1 || fail "train exited $?: $(tail -3 log.txt)"
if grep -q $'\r' log.txt; then fail "carriage returns in a log file"; fi
if grep -q $'\033' log.txt; then fail "escape codes in a log file"; fi

# The tiny config by hand: 4 layers, C = 128, vocabulary 50304 (padded), 128 positions, T = 128.
# Parameters per layer 12C² + 13C (c_attn 3C²+3C, c_proj C²+C, c_fc 4C²+4C, c_proj 4C²+C, two
# LayerNorms 4C), plus ln_f 2C; FLOPs per token 6·(4·12C² + V·C) + 6·2·4·T·C.
read -r total non_embedding flops < <(awk 'BEGIN { L = 4; C = 128; V = 50304; P = 128; T = 128
  ne = L * (12 * C * C + 13 * C) + 2 * C
  printf "%.2fM %.1fk %.1f\n", (ne + V * C + P * C) / 1e6, ne / 1e3, (6 * (L * 12 * C * C + V * C) + 12 * L * T * C) / 1e6 }')
want="model: $total parameters, $non_embedding without the embeddings; $flops MFLOP per token trained (seq_len 128)"
grep -qxF "$want" log.txt || fail "the model line is not '$want': $(grep '^model:' log.txt)"
grep -qxF "run: 1 rank (single), 2 micro-batches of 4x128 per rank, 1024 tokens per step, 8 steps; folder run" log.txt ||
  fail "run line: $(grep '^run:' log.txt)"
grep -Eqx "device: cpu-f32 \((oneDNN|loops)\) on .+, [0-9]+ threads?; peak for MFU [0-9.]+ GFLOP/s \(this backend's matmul, measured at startup\)" log.txt ||
  fail "device line: $(grep '^device:' log.txt)"
grep -Eqx "memory: per rank [0-9.]+ MiB parameters and gradients, [0-9.]+ MiB AdamW moments, [0-9.]+ MiB activations" log.txt ||
  fail "memory line: $(grep '^memory:' log.txt)"
# MFU is left out of a line whose figure would exceed 100%: on a busy machine (ctest -j 2) the
# startup measurement of the CPU's peak can come out below what training later reaches.
for step in 2 4 6; do
  grep -Eq "^step +$step/8 \| loss [0-9.]+ .*\| [0-9]+ tok/s( \| MFU [0-9.]+%)? \| ETA [0-9]+ s$" log.txt ||
    fail "step $step's line lacks tok/s or ETA: $(grep "^step *$step/" log.txt)"
done
grep -Eq '^step +[0-9]+/8 \| loss .* MFU [0-9.]+%' log.txt || fail "no line shows MFU: $(grep '^step' log.txt)"
grep -Eq '^step 8/8 \| loss .* tok/s( \| MFU [0-9.]+%)?$' log.txt || fail "the last line: $(grep '^step 8/' log.txt)"
peak=$(sed -n 's/^device: .*; peak for MFU \([0-9.]*\) GFLOP.*/\1/p' log.txt)
/usr/bin/python3 - run/metrics.jsonl "${peak:-0}" <<'PY' || fail "metrics.jsonl"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
peak = float(sys.argv[2]) * 1e9  # as printed, to 0.1 GFLOP/s
trained = [r for r in records if "loss" in r]
assert [r["step"] for r in trained] == [2, 4, 6, 8], trained
assert any("mfu" in r for r in trained), trained
for r in trained:
    assert r["tokens"] == r["step"] * 1024, r
    figure = 44138496 * r["tokens_per_s"] / peak  # MFU: FLOPs per token (by hand above) x tokens/s / peak
    if "mfu" in r:
        assert 0 < r["mfu"] <= 1, r
        assert abs(r["mfu"] / figure - 1) < 0.05e9 / peak + 1e-9, (r, peak)
    else:
        assert figure > 0.99, ("mfu left out of a plausible record", r, peak)
print("metrics.jsonl: tokens in every training record, mfu as the formula gives it")
PY

# 2. On a terminal (script gives a pty): the status line is redrawn in place between log lines.
if command -v script >/dev/null; then
  script -qec "'$train' '$config' ${args[*]} --log.interval=4 --run.dir=run_tty" /dev/null >tty.txt 2>&1
  grep -q $'\r\033\\[Kstep 3/8 | [0-9.]* ms | [0-9]* tok/s | ETA' tty.txt ||
    fail "no status line redrawn on a terminal: $(head -c 600 tty.txt | od -c | head -12)"
  grep -q $'\r\033\\[Kstep 4/8 | loss' tty.txt || fail "the status line is not cleared before a log line"
else
  fail "script (util-linux) is missing: the terminal case cannot be checked"
fi

# 3. A peak that makes MFU impossible (over 100%): no MFU, rather than a wrong one. (And no
# TensorBoard files when they are turned off, while the first run has them.)
"$train" "$config" "${args[@]}" --train.peak_tflops=1e-6 --log.tensorboard=false --run.dir=run_low >low.txt 2>&1 ||
  fail "train exited $?"
[[ ! -e run_low/tb ]] || fail "log.tensorboard = false, yet run_low/tb exists"
ls run/tb/events.out.tfevents.* >/dev/null 2>&1 || fail "no TensorBoard file in run/tb by default"
grep -q 'peak for MFU 1.0 MFLOP/s\|peak for MFU 0.0 GFLOP/s\|train.peak_tflops' low.txt || fail "the override is not named: $(grep '^device:' low.txt)"
if grep -q '^step.*MFU [0-9]' low.txt; then fail "an MFU over 100% was shown: $(grep '^step' low.txt | head -2)"; fi
if grep -q '"mfu"' run_low/metrics.jsonl; then fail "an MFU over 100% went into metrics.jsonl"; fi

# 4. Two ranks: one summary, from rank 0, counting both; MFU over both ranks' peaks.
if [[ -n "$mpiexec" ]]; then
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 \
    "$mpiexec" -np 2 --oversubscribe "$train" "$config" "${args[@]}" --run.dir=run_mpi >mpi.txt 2>&1 ||
    fail "mpirun exited $?: $(tail -3 mpi.txt)"
  [[ $(grep -c '^model:' mpi.txt) == 1 ]] || fail "$(grep -c '^model:' mpi.txt) model lines from two ranks"
  grep -qxF "run: 2 ranks (mpi), 1 micro-batch of 4x128 per rank, 1024 tokens per step, 8 steps; folder run_mpi" mpi.txt ||
    fail "two-rank run line: $(grep '^run:' mpi.txt)"
  grep -q '1 thread; peak for MFU' mpi.txt || fail "two-rank device line: $(grep '^device:' mpi.txt)"
  grep -Eq '^step +[0-9]/8 .* MFU [0-9.]+% ' mpi.txt || fail "no MFU on two ranks: $(grep '^step' mpi.txt | head -2)"
  # Open MPI hands its ranks a pty even when mpirun writes to a file: still no redraws in the log.
  if grep -q $'\033' mpi.txt; then fail "escape codes in a two-rank log file"; fi
fi

if ((failures)); then
  echo "$failures failures"
  exit 1
fi
echo "progress: summary by the formulas, MFU and ETA per line, plain in files, redrawn on a terminal"
