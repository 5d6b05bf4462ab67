#!/usr/bin/env bash
# Tokens/s of the tiny config on 1 and 2 CPU ranks, and the time per step each rank spends
# blocked on communication (metrics.jsonl's comm_ms). Prints a table; the medians skip the
# first steps (warm-up). Usage: tests/bench/bench_ranks.sh [STEPS]   (from the checkout)
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-30}
train=${GPT_TRAIN_BIN:-build/launch/train}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cores=$(nproc)
common=(configs/tiny.toml --train.max_steps="$steps" --log.interval=1 --eval.interval=0 --eval.batches=1
  --train.micro_batch=4 --train.batch_tokens=1024)

run() {  # name ranks threads [extra overrides...]
  local name=$1 ranks=$2 threads=$3
  shift 3
  if [[ $ranks == 1 ]]; then
    OMP_NUM_THREADS=$threads "$train" "${common[@]}" --run.dir="$out/$name" "$@" >/dev/null
  else
    OMP_NUM_THREADS=$threads mpirun -np "$ranks" --oversubscribe --bind-to none "$train" "${common[@]}" \
      --run.dir="$out/$name" "$@" >/dev/null
  fi
  python3 - "$out/$name/metrics.jsonl" "$name" "$ranks" "$threads" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"ms"' in l]
rows = rows[len(rows) // 5:]  # skip warm-up
ms = statistics.median(r["ms"] for r in rows)
comm = statistics.median(r.get("comm_ms", 0.0) for r in rows)
print(f"{sys.argv[2]:<28} ranks {sys.argv[3]}  threads/rank {sys.argv[4]}  {ms:7.1f} ms/step"
      f"  {1024 / ms * 1000:7.0f} tok/s  comm {comm:6.1f} ms/step ({100 * comm / ms:4.1f}%)")
PY
}

echo "tiny config, global batch 1024 tokens (micro-batch 4 x 128), $steps steps, $cores cores: $(lscpu | sed -n 's/^Model name: *//p')"
run "1 rank, accumulation 2" 1 "$cores" --train.micro_batch=4
run "1 rank, 1 thread" 1 1 --train.micro_batch=4
run "2 ranks, all-reduce" 2 $((cores / 2 > 0 ? cores / 2 : 1))
run "2 ranks, ZeRO-1" 2 $((cores / 2 > 0 ? cores / 2 : 1)) --dist.zero_stage=1
