#!/usr/bin/env bash
# The one-shot GPU check, for a GPU machine that may be bare and offline (CUDA toolkit, g++, CMake,
# ninja). Run tests/gpu/stage.sh on a machine with network access first and copy .gpu-stage along
# with the tree. The whole script fits one 540 s time slot: the steps' time limits add up to 520 s,
# and no step may run past the overall deadline, so a hang costs its own step only. Steps, in
# this order so the figures come early:
#
#   versions   nvidia-smi, nvcc, cmake, g++ (device.txt)
#   configure  staged dependencies, sm_90 only (--arch "80;90" for an A100 as well)
#   build      train, gpu_tests, bench_gpu, bench_generate (the host-only unit label is CI's job)
#   gpu-tests  the `gpu` ctest label, each test limited to 60 s
#   bench      bench_gpu: matmul rate, attention TFLOP/s, GPT-2 124M tokens/s, MFU, per-op times
#   bench-generate  bench_generate in bf16: tokens/s with and without the KV cache, ms/token by
#              position, HBM read bandwidth and the batch-1 bound
#   train      20 bf16 steps of configs/tiny.toml on the TinyStories sample
#   train-mfu  its summary names the card's datasheet peak and its lines show MFU
#   memcheck   compute-sanitizer memcheck on a 2-step bf16 run
#   racecheck  compute-sanitizer racecheck on the attention kernels (CudaAttention*, CudaKVCache*)
#
# GPT_EXPECT_GPU=1 is set for every step: a missing device fails the tests and the benchmark
# instead of letting them skip. Each step's log lands in $OUT (or ./gpu-check-logs) as the step
# finishes; summary.txt has one line per step. Exit 0 only when every step passed.
#
#   tests/gpu/check.sh [--arch "80;90"] [--budget SECONDS]
set -uo pipefail
cd "$(dirname "$0")/../.."
arch=90
budget=530  # seconds for the whole script: it fits a 540 s time slot on a shared GPU machine
while (($#)); do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    --budget) budget="$2"; shift 2 ;;
    *) echo "usage: $0 [--arch \"80;90\"] [--budget SECONDS]" >&2; exit 2 ;;
  esac
done
out="${OUT:-$(pwd)/gpu-check-logs}"
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
deadline=$((SECONDS + budget))
failed=0
export GPT_EXPECT_GPU=1

record() { echo "$1: $2" | tee -a "$summary"; }
# step NAME LIMIT COMMAND...: runs COMMAND with its output in NAME.log, for at most LIMIT seconds
# and never past the deadline (TERM, then KILL 5 s later).
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((deadline - SECONDS - 5))
  ((limit > left)) && limit=$left
  if ((limit < 5)); then
    record "$name" "NOT RUN (no time left of the ${budget} s budget)"
    failed=1
    return 1
  fi
  local start=$SECONDS rc
  timeout -k 5 "$limit" "$@" >"$out/$name.log" 2>&1
  rc=$?
  if ((rc == 0)); then
    record "$name" "pass ($((SECONDS - start)) s)"
    return 0
  fi
  local why="exit $rc"
  ((rc == 124 || rc == 137)) && why="TIME LIMIT of ${limit} s"
  record "$name" "FAIL ($why after $((SECONDS - start)) s, see $name.log)"
  tail -n 30 "$out/$name.log"
  failed=1
  return 1
}

{
  echo "== nvidia-smi"; nvidia-smi
  echo "== nvcc --version"; nvcc --version
  echo "== cmake --version"; cmake --version
  echo "== g++ --version"; g++ --version
} >"$out/device.txt" 2>&1
record device "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 1)"
record toolchain "$(nvcc --version 2>&1 | grep -o 'release [0-9.]*' | head -n 1); $(cmake --version 2>&1 | head -n 1); $(g++ --version 2>&1 | head -n 1)"

step configure 40 cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DGPT_STAGED_DEPS="$(pwd)/.gpu-stage" || exit 1
step build 160 cmake --build build-gpu -j "$(nproc)" --target train gpu_tests bench_gpu bench_generate || exit 1
step gpu-tests 100 ctest --test-dir build-gpu -L gpu -j 4 --timeout 60 --output-on-failure
step bench 60 build-gpu/tests/bench_gpu --steps 10
step bench-generate 30 build-gpu/tests/bench_generate --backend cuda --uncached-124m-tokens 32

data="${GPT_DATA_DIR:-$(pwd)/data/sample}/tinystories"
train_args=(configs/tiny.toml --train.backend=cuda --train.precision=bf16
            --data.train="$data/TinyStories-train-sample.bin" --data.val="$data/TinyStories-valid-sample.bin")
step train 25 build-gpu/launch/train "${train_args[@]}" --train.max_steps=20 --log.interval=5 \
  --eval.interval=10 --run.dir=/tmp/gpu-train
# The card is in the datasheet table (H100 and H200 are), so MFU is shown.
step train-mfu 5 bash -c "grep -E '^device: cuda-bf16 .*peak for MFU [0-9.]+ TFLOP/s [(]datasheet' '$out/train.log' &&
  grep -E '^step .* MFU [0-9.]+%' '$out/train.log'"
# The toolkit keeps compute-sanitizer outside bin/ in some layouts.
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer \
            /usr/local/cuda*/compute-sanitizer/compute-sanitizer 2>/dev/null | head -n 1)
if [[ -n "$sanitizer" ]]; then
  step memcheck 60 "$sanitizer" --tool memcheck --error-exitcode 9 \
    build-gpu/launch/train "${train_args[@]}" --train.max_steps=2 --eval.batches=1 --run.dir=/tmp/gpu-memcheck
  step racecheck 45 "$sanitizer" --tool racecheck --error-exitcode 9 \
    build-gpu/tests/gpu_tests --gtest_filter='CudaAttention*:CudaKVCache*'
else
  record memcheck "NOT RUN: compute-sanitizer not found"
  record racecheck "NOT RUN: compute-sanitizer not found"
  failed=1
fi
echo "--- bench"; cat "$out/bench.log" 2>/dev/null
echo "--- bench-generate"; cat "$out/bench-generate.log" 2>/dev/null
echo "--- summary ($SECONDS s of the ${budget} s budget)"; cat "$summary"
exit "$failed"
