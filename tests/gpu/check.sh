#!/usr/bin/env bash
# The one-shot GPU check, for a lent GPU machine (bare: CUDA toolkit, g++, CMake, ninja). Run
# tests/gpu/stage.sh here first and carry .gpu-stage. It builds for sm_80 and sm_90, runs the
# `gpu` test label (and the unit label, cheap there), compute-sanitizer memcheck on a short bf16
# training run, and the 124M throughput benchmark. Logs go to $OUT (or ./gpu-check-logs);
# summary.txt lists what passed. Sized to finish in under 8 minutes on an H100.
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-$(pwd)/gpu-check-logs}"
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
record() { echo "$1: $2" | tee -a "$summary"; }
step() {  # step NAME LOGFILE TIMEOUT COMMAND...
  local name=$1 log=$2 limit=$3
  shift 3
  local start=$SECONDS
  if timeout "$limit" "$@" >"$out/$log" 2>&1; then record "$name" "pass ($((SECONDS - start)) s)"; return 0; fi
  record "$name" "FAIL ($((SECONDS - start)) s, see $log)"; tail -n 30 "$out/$log"; return 1
}

{ nvidia-smi; nvcc --version; } >"$out/device.txt" 2>&1
record device "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"

step configure configure.log 120 cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES="80;90" -DGPT_STAGED_DEPS="$(pwd)/.gpu-stage" || exit 1
step build build.log 300 cmake --build build-gpu -j "$(nproc)" || exit 1
step gpu-tests gpu-tests.log 180 ctest --test-dir build-gpu -L gpu --output-on-failure
step unit-tests unit-tests.log 180 ctest --test-dir build-gpu -L unit -j 8 --output-on-failure

data="${GPT_DATA_DIR:-$(pwd)/data/sample}/tinystories"
train_args=(configs/tiny.toml --train.backend=cuda --train.precision=bf16
            --data.train="$data/TinyStories-train-sample.bin" --data.val="$data/TinyStories-valid-sample.bin")
# The toolkit keeps compute-sanitizer outside bin/ in some layouts.
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer \
            /usr/local/cuda*/compute-sanitizer/compute-sanitizer 2>/dev/null | head -n 1)
if [[ -n "$sanitizer" ]]; then
  step memcheck memcheck.log 180 "$sanitizer" --tool memcheck --error-exitcode 9 \
    build-gpu/launch/train "${train_args[@]}" --train.max_steps=2 --eval.batches=1 --run.dir=/tmp/gpu-memcheck
  step racecheck racecheck.log 180 "$sanitizer" --tool racecheck --error-exitcode 9 \
    build-gpu/tests/gpu_tests --gtest_filter='AllOps*:CudaAttention*'
else
  record memcheck "skipped: compute-sanitizer not found"
fi
step train-bf16-20 train-bf16.log 120 build-gpu/launch/train "${train_args[@]}" --train.max_steps=20 \
  --log.interval=5 --eval.interval=10 --run.dir=/tmp/gpu-train
step bench bench.log 240 build-gpu/tests/bench_gpu --steps 10
cat "$out/bench.log"
echo "--- summary"; cat "$summary"
