#!/usr/bin/env bash
# A failing rank ends the whole job: `mpirun -np 2 train` on the tiny config, then rank 1 is
# either killed with SIGKILL once training runs (mode kill), throws after step 2 (mode throw,
# through GPT_INJECT_FAILURE), or is stopped with SIGSTOP (mode stop: alive but silent, as behind
# a cut link; rank 0's MPI watchdog must give up after dist.timeout_s = 5 s). The job must exit
# non-zero within 60 s and name the failed rank.
# Usage: fault_test.sh kill|throw|stop MPIEXEC TRAIN_BIN CONFIG DATA_DIR ($GPT_DATA_DIR, when set, wins)
set -uo pipefail
mode=$1 mpiexec=$2 train=$3 config=$4 data=${GPT_DATA_DIR:-$5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
[[ $mode == throw ]] && export GPT_INJECT_FAILURE=1:2

"$mpiexec" -np 2 --oversubscribe --bind-to none "$train" "$config" \
  --data.train="$data/tinystories/TinyStories-train-sample.bin" \
  --data.val="$data/tinystories/TinyStories-valid-sample.bin" \
  --train.max_steps=100000 --train.micro_batch=4 --log.interval=1 --eval.interval=0 \
  --run.dir="$work/run" --dist.timeout_s=5 >"$work/out" 2>&1 &
job=$!

if [[ $mode == kill || $mode == stop ]]; then
  # Wait for a logged step, then find rank 1 among the job's processes by its environment.
  for _ in $(seq 1 600); do
    grep -q '"step":2' "$work/run/metrics.jsonl" 2>/dev/null && break
    sleep 0.1
  done
  victim=""
  for pid in $(pgrep -f -- "--run.dir=$work/run"); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' &&
      [[ $(readlink "/proc/$pid/exe") == "$(readlink -f "$train")" ]]; then
      victim=$pid
    fi
  done
  if [[ -z $victim ]]; then
    echo "FAIL: rank 1 never started training"; cat "$work/out"; kill -9 "$job" 2>/dev/null; exit 1
  fi
  if [[ $mode == kill ]]; then
    echo "killing rank 1 (pid $victim)"
    kill -9 "$victim"
  else
    echo "stopping rank 1 (pid $victim)"
    kill -STOP "$victim"
  fi
fi

start=$(date +%s)
for _ in $(seq 1 600); do
  kill -0 "$job" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$job" 2>/dev/null; then
  echo "FAIL: the job still runs 60 s after rank 1 failed"; pkill -9 -f -- "--run.dir=$work/run"; exit 1
fi
wait "$job"
code=$?
elapsed=$(($(date +%s) - start))
cat "$work/out"
echo "job exit code $code after ${elapsed} s"
[[ $code -ne 0 ]] || { echo "FAIL: the job exited 0"; exit 1; }
if [[ $mode == kill ]]; then
  grep -Eq 'rank 1 .*(killed|signal 9)|process rank 1' "$work/out" || { echo "FAIL: rank 1 not named"; exit 1; }
elif [[ $mode == stop ]]; then
  grep -Eq '^error: rank 0 on [^:]+: .* has waited 5 s \(dist.timeout_s\) for the other ranks \(1 on ' "$work/out" ||
    { echo "FAIL: no watchdog error from rank 0 naming rank 1"; exit 1; }
else
  grep -q 'error: rank 1: injected failure after step 2' "$work/out" || { echo "FAIL: rank 1's error missing"; exit 1; }
fi
echo "PASS"
