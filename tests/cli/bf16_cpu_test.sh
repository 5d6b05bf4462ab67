#!/usr/bin/env bash
# train.precision = "bf16" on the CPU as a user runs it: the tiny config trains 300 steps in fp32
# and in bf16 from the same seed (side by side, a thread each: results do not depend on the thread
# count), and at every eval (each 50 steps) the bf16 run's validation loss is within 2% of the
# fp32 run's. At optim.lr = 1e-3: at the config's 3e-3 both precisions meet loss spikes (fp32 a
# gradient norm of 19 at step 26, bf16 one of 201 at step 21), after which the two runs part as
# runs of different seeds do. The startup summary names the oneDNN kernel; the bf16 run's
# checkpoint generates text with --precision bf16; with oneDNN kept from bf16
# (ONEDNN_MAX_CPU_ISA=AVX512_CORE) train refuses bf16 with exit 2 and one error line naming it.
#   bf16_cpu_test.sh TRAIN_BIN GENERATE_BIN CONFIG SAMPLE_DATA_DIR   ($GPT_DATA_DIR, when set, wins)
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/cli_lib.sh"
train="$(realpath "$1")"
generate="$(realpath "$2")"
config="$(realpath "$3")"
data="$(cd "${GPT_DATA_DIR:-$4}/tinystories" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then
  echo "skipped: this CPU has neither avx512_bf16 nor amx_bf16"
  exit 77
fi
args=(--data.train="$data/TinyStories-train-sample.bin" --data.val="$data/TinyStories-valid-sample.bin"
  --train.max_steps=300 --eval.interval=50 --log.interval=50 --optim.lr=1e-3 --optim.min_lr=1e-4
  --train.threads=1 --checkpoint.interval=0 --log.sample_interval=0)

pids=()
for precision in fp32 bf16; do
  "$train" "$config" "${args[@]}" --train.precision=$precision --run.dir=$precision >$precision.log 2>&1 &
  pids+=($!)
done
for i in 0 1; do
  wait "${pids[$i]}" || fail "the $([[ $i == 0 ]] && echo fp32 || echo bf16) run exited $?"
done
grep -Eq '^device: cpu-bf16 \(oneDNN [a-z_:0-9]+\) on ' bf16.log || fail "bf16 device line: $(grep '^device:' bf16.log)"
grep -Eq '^device: cpu-f32 ' fp32.log || fail "fp32 device line: $(grep '^device:' fp32.log)"
python3 - fp32/metrics.jsonl bf16/metrics.jsonl <<'PY' || fail "the bf16 validation loss left the fp32 run's"
import json, sys
def val(path):
    return {j["step"]: j["val_loss"] for j in map(json.loads, open(path)) if "val_loss" in j}
a, b = val(sys.argv[1]), val(sys.argv[2])
assert sorted(a) == sorted(b) == list(range(0, 301, 50)), (sorted(a), sorted(b))
for step in sorted(a):
    rel = abs(b[step] - a[step]) / a[step]
    print(f"step {step}: fp32 {a[step]:.4f}, bf16 {b[step]:.4f}, {100 * rel:.2f}%")
    assert rel <= 0.02, f"step {step}"
assert b[300] < 5.0, f"the bf16 run did not learn: {b[300]}"
PY

"$generate" --run-dir bf16 --precision bf16 --prompt "Once upon a time" --max-new-tokens 20 --seed 1 >story.txt 2>gen.err ||
  fail "generate --precision bf16 exited $?: $(cat gen.err)"
[[ $(wc -w <story.txt) -gt 5 ]] || fail "generate wrote: $(cat story.txt)"

ONEDNN_MAX_CPU_ISA=AVX512_CORE expect_refusal "bf16 without oneDNN's bf16" 'train.precision = "bf16"' \
  "AMX-BF16 or AVX512-BF16" -- "$train" "$config" "${args[@]}" --train.precision=bf16 --run.dir=refused
[[ ! -e refused ]] || fail "the refused run left its folder"

if ((failures)); then
  echo "$failures failures"
  exit 1
fi
echo "bf16 on the CPU: 300 steps within 2% of fp32 at every eval, generate in bf16, refused without bf16"
