#!/usr/bin/env bash
# Checkpoints as a user meets them, with the real binary on the tiny config (a shrunken copy for
# speed). Usage: resume_test.sh MODE TRAIN_BIN CONFIG DATA_DIR MPIEXEC ($GPT_DATA_DIR, when set, wins)
#   exact RANKS ZERO [WHO]  a run SIGKILLed after step 6 and resumed (--resume) logs bitwise the
#                     same losses for steps 1-12 and ends with bitwise the same parameters and
#                     moments (h5diff) as the run left alone; checkpoints every 4 steps. WHO is
#                     checkpoint.broadcast_resume for the resume (default auto: here every rank
#                     reads; "always": rank 0 reads and sends, as on node-local disks)
#   elastic FROM TO   the step-4 checkpoint of a FROM-rank run continues on TO ranks with losses
#                     within fp32 reduction-order noise of the FROM-rank run
#   sigterm           SIGTERM mid-run: exit 0 and a checkpoint of the last finished step
#   recovery          a truncated newest checkpoint is reported and the previous one used; a
#                     changed model is refused naming the key; --init-from starts from weights
#   disk_full         run.dir on a 60 MB tmpfs (root only, else skipped): the second checkpoint does
#                     not fit; exit 1, one line "error: ..." naming the file, "no space left" and the
#                     last good checkpoint, no signal, no temporary left, the first checkpoint valid
#   unwritable_dir    run.dir/checkpoints is a regular file: exit 2 naming it before any step
#   nothing_to_do     --resume with train.max_steps at the checkpoint's step or below: one line, exit 0
#   fallback_prune    after a resume past a truncated newest file, keep_last keeps valid files only
#                     (the bad one is renamed *.corrupt), and its warning is printed once
#   init_untied       --init-from an untied checkpoint into a tied model names lm_head.weight unused
#   second_run        a second train in a running run's run.dir: exit 2 before any step, one line
#                     naming the first one's pid; once the first is SIGKILLed, --resume works
#   precision_switch  the step-4 checkpoint of a bf16 run continues in fp32 and an fp32 run's in
#                     bf16 (a checkpoint holds fp32 masters and moments whatever the precision): the
#                     file's tensors are fp32, and each continuation's losses stay within 1e-3 of the
#                     run it left (bf16's rounding noise, averaged over a step's 256 tokens, measured
#                     at most 1.2e-4 relative here)
#   fault KIND SHIM   the step-8 checkpoint's write meets fault KIND (tests/checkpoint/fault_inject.cpp,
#                     preloaded): enospc_start / enospc_data / enospc_close (the disk fills at the
#                     file's first byte, halfway, in the metadata HDF5 writes at close), fsync_eio,
#                     fsync_enospc, rename_erofs, vanish (the folder is moved away mid-write), delete
#                     (deleted mid-write), remount_ro (a real read-only remount, root). Each: exit 1,
#                     one error line naming the file and the cause, no signal, no temporary left;
#                     then, the cause removed, --resume continues from step 4 (delete: starts over)
#                     and logs the same losses and ends with the same parameters and moments, bit
#                     for bit, as a run that met no fault
# GPT_TEST_PRECISION (fp32 by default, or bf16) is every run's train.precision.
set -uo pipefail
mode=$1 train=$2 config=$3 data=${GPT_DATA_DIR:-$4} mpiexec=$5
shift 5
work=$(mktemp -d)
trap 'pkill -9 -f -- "$work/" 2>/dev/null; for m in "$work/full" "$work/run/checkpoints"; do mountpoint -q "$m" && umount "$m"; done
  rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }
command -v h5diff >/dev/null || { echo "h5diff (hdf5-tools) missing"; exit 77; }
if [[ ${GPT_TEST_PRECISION:-fp32} == bf16 || $mode == precision_switch ]] && ! grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then
  echo "skipped: bf16 on the CPU needs avx512_bf16 or amx_bf16, which this CPU lacks"
  exit 77
fi

small=(--model.n_layer=2 --model.n_embd=64 --model.n_head=2 --model.block_size=64 --train.seq_len=64
  --train.micro_batch=2 --train.batch_tokens=256 --train.max_steps=12 --model.dropout=0.1
  --optim.warmup_steps=3 --eval.batches=2 --eval.interval=0 --log.interval=1 --checkpoint.interval=4
  --checkpoint.keep_last=0
  --data.train="$data/tinystories/TinyStories-train-sample.bin"
  --data.val="$data/tinystories/TinyStories-valid-sample.bin" --train.precision="${GPT_TEST_PRECISION:-fp32}")

launch() {  # ranks run_dir [extra...]: starts in the background, sets $job
  local ranks=$1 dir=$2
  shift 2
  if [[ $ranks == 1 ]]; then
    "$train" "$config" "${small[@]}" --run.dir="$dir" "$@" >>"$dir.log" 2>&1 &
  else
    "$mpiexec" -np "$ranks" --oversubscribe --bind-to none "$train" "$config" "${small[@]}" --run.dir="$dir" "$@" \
      >>"$dir.log" 2>&1 &
  fi
  job=$!
}
run() { launch "$@"; wait "$job"; }
losses() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if "loss" in j: print(j["step"], repr(j["loss"]))' "$1/metrics.jsonl"; }
# continued_within RUN CONTINUATION TOL: the continuation (resumed from RUN's step-4 checkpoint)
# logged steps 5-12, each loss within TOL (relative) of RUN's.
continued_within() {
  python3 - "$1/metrics.jsonl" "$2/metrics.jsonl" "$3" <<'PY'
import json, sys
a = {j["step"]: j["loss"] for j in map(json.loads, open(sys.argv[1])) if "loss" in j}
b = {j["step"]: j["loss"] for j in map(json.loads, open(sys.argv[2])) if "loss" in j}
tol = float(sys.argv[3])
assert sorted(b) == list(range(5, 13)), sorted(b)
for s in range(5, 13):
    rel = abs(a[s] - b[s]) / abs(a[s])
    print(s, a[s], b[s], f"{rel:.1e}")
    assert rel < tol, f"step {s}: {a[s]} vs {b[s]}"
PY
}
wait_for_step() {  # dir step
  for _ in $(seq 1 1200); do
    grep -q "\"step\":$2," "$1/metrics.jsonl" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

case $mode in
exact)
  ranks=$1 zero=$2 who=${3:-auto}
  run "$ranks" "$work/whole" --dist.zero_stage="$zero" || fail "uninterrupted run failed: $(cat "$work/whole.log")"
  launch "$ranks" "$work/cut" --dist.zero_stage="$zero"
  wait_for_step "$work/cut" 6 || fail "interrupted run never reached step 6"
  pkill -9 -f -- "--run.dir=$work/cut" # every rank, and mpirun
  wait "$job" 2>/dev/null
  ls "$work/cut/checkpoints"
  run "$ranks" "$work/cut" --dist.zero_stage="$zero" --resume --checkpoint.broadcast_resume="$who" ||
    fail "resume failed: $(cat "$work/cut.log")"
  grep -q "resumed at step" "$work/cut.log" || fail "did not resume"
  if [[ $who == always ]]; then
    grep -q "resumed at step .* by rank 0, sent to ranks 1" "$work/cut.log" || fail "rank 0 did not send the checkpoint"
  fi
  diff <(losses "$work/whole") <(losses "$work/cut") || fail "losses differ"
  [[ $(losses "$work/cut" | wc -l) == 12 ]] || fail "expected 12 logged steps"
  for group in /params /optim/m /optim/v; do
    h5diff "$work/whole/checkpoints/step_00000012.h5" "$work/cut/checkpoints/step_00000012.h5" $group $group ||
      fail "$group differs after the resumed run"
  done
  ;;
elastic)
  from=$1 to=$2
  run "$from" "$work/whole" || fail "run on $from rank(s) failed: $(cat "$work/whole.log")"
  mkdir -p "$work/moved/checkpoints"
  cp "$work/whole/checkpoints/step_00000004.h5" "$work/moved/checkpoints/"
  run "$to" "$work/moved" --resume || fail "resume on $to rank(s) failed: $(cat "$work/moved.log")"
  continued_within "$work/whole" "$work/moved" 1e-5 || fail "losses diverge"
  ;;
precision_switch)
  for from in bf16 fp32; do
    to=$([[ $from == bf16 ]] && echo fp32 || echo bf16)
    run 1 "$work/$from" --train.precision=$from || fail "$from run failed: $(cat "$work/$from.log")"
    types=$(h5dump -H -g /params "$work/$from/checkpoints/step_00000004.h5" | grep DATATYPE | sort -u | xargs)
    [[ $types == "DATATYPE H5T_IEEE_F32LE" ]] || fail "the $from run's checkpoint holds parameters of types: $types"
    mkdir -p "$work/$to-from-$from/checkpoints"
    cp "$work/$from/checkpoints/step_00000004.h5" "$work/$to-from-$from/checkpoints/"
    run 1 "$work/$to-from-$from" --train.precision=$to --resume || fail "resume in $to failed: $(cat "$work/$to-from-$from.log")"
    grep -q "resumed at step 4" "$work/$to-from-$from.log" || fail "$to did not resume from the $from checkpoint"
    continued_within "$work/$from" "$work/$to-from-$from" 1e-3 || fail "$from -> $to: losses diverge"
  done
  ;;
sigterm)
  launch 1 "$work/run" --train.max_steps=100000 --checkpoint.interval=0
  wait_for_step "$work/run" 3 || fail "never reached step 3"
  kill -TERM "$job"
  wait "$job"
  code=$?
  cat "$work/run.log" | tail -3
  [[ $code == 0 ]] || fail "exit code $code after SIGTERM"
  grep -q "stopped after step" "$work/run.log" || fail "no stop message"
  last=$(losses "$work/run" | tail -1 | cut -d' ' -f1)
  [[ -f $work/run/checkpoints/$(printf 'step_%08d.h5' "$last") ]] || fail "no checkpoint of step $last"
  run 1 "$work/run" --train.max_steps=$((last + 2)) --resume || fail "could not resume after SIGTERM"
  ;;
recovery)
  run 1 "$work/run" || fail "run failed"
  truncate -s 100000 "$work/run/checkpoints/step_00000012.h5"
  run 1 "$work/run" --train.max_steps=14 --resume || fail "resume after truncation failed: $(cat "$work/run.log")"
  grep -q "step_00000012.h5" "$work/run.log" || fail "the truncated checkpoint was not reported"
  grep -q "resumed at step 8" "$work/run.log" || fail "did not fall back to step 8"
  "$train" "$config" "${small[@]}" --run.dir="$work/run" --resume --model.n_embd=32 >"$work/refused.log" 2>&1
  code=$?
  cat "$work/refused.log"
  [[ $code == 2 ]] && grep -q "model.n_embd" "$work/refused.log" || fail "a changed model was not refused (code $code)"
  "$train" "$config" "${small[@]}" --run.dir="$work/ft" --model.n_embd=32 \
    --init-from="$work/run/checkpoints/step_00000014.h5" >"$work/shape.log" 2>&1
  code=$?
  cat "$work/shape.log"
  [[ $code == 2 ]] && grep -q "wte.weight" "$work/shape.log" || fail "a shape mismatch was not named (code $code)"
  run 1 "$work/ft" --init-from="$work/run/checkpoints/step_00000014.h5" --train.max_steps=1 ||
    fail "--init-from failed: $(cat "$work/ft.log")"
  # Step 0's validation scores the loaded weights: the same windows the source run scored at its end.
  python3 - "$work/run/metrics.jsonl" "$work/ft/metrics.jsonl" <<'PY' || fail "--init-from did not load the weights"
import json, sys
src = [j for j in map(json.loads, open(sys.argv[1])) if "val_loss" in j][-1]
ft = [j for j in map(json.loads, open(sys.argv[2])) if j["step"] == 0][0]
print("source", src["step"], src["val_loss"], "fine-tune step 0", ft["val_loss"])
assert src["step"] == 14 and ft["val_loss"] == src["val_loss"]
PY
  ;;
disk_full)
  [[ $(id -u) == 0 ]] || { echo "needs root to mount a tmpfs"; exit 77; }
  mkdir -p "$work/full"
  mount -t tmpfs -o size=60m tmpfs "$work/full" || { echo "cannot mount a tmpfs here"; exit 77; }
  # One checkpoint of the small model is 40 MB: step 4's fits, step 8's does not.
  "$train" "$config" "${small[@]}" --run.dir="$work/full/run" >"$work/full.log" 2>&1
  code=$?
  cat "$work/full.log" | tail -3
  [[ $code == 1 ]] || fail "exit code $code on a full disk (expected 1; 139 is a segfault)"
  others=$(grep -vE '^(step |model: |run: |device: |memory: |checkpoint /|val_loss )' "$work/full.log")
  [[ $(printf '%s\n' "$others" | wc -l) == 1 && $others == error:* ]] || fail "expected one error line, got: $others"
  [[ $others == *step_00000008.h5* ]] || fail "the error does not name the file"
  grep -qi "no space left" <<<"$others" || fail "the error does not say no space is left"
  [[ $others == *step_00000004.h5* ]] || fail "the error does not name the last good checkpoint"
  [[ $(ls "$work/full/run/checkpoints") == step_00000004.h5 ]] || fail "left: $(ls "$work/full/run/checkpoints")"
  mkdir -p "$work/check/checkpoints"
  cp "$work/full/run/checkpoints/step_00000004.h5" "$work/check/checkpoints/"
  run 1 "$work/check" --train.max_steps=5 --resume || fail "the surviving checkpoint is not valid: $(cat "$work/check.log")"
  grep -q "resumed at step 4" "$work/check.log" || fail "did not resume from the surviving checkpoint"
  ;;
unwritable_dir)
  mkdir -p "$work/bad"
  : >"$work/bad/checkpoints"
  "$train" "$config" "${small[@]}" --run.dir="$work/bad" >"$work/bad.log" 2>&1
  code=$?
  cat "$work/bad.log"
  [[ $code == 2 ]] || fail "exit code $code for an unwritable checkpoints folder (expected 2)"
  ! grep -q "^step " "$work/bad.log" || fail "trained before finding that checkpoints cannot be written"
  [[ $(grep -c "^error: .*$work/bad/checkpoints" "$work/bad.log") == 1 ]] || fail "no one error line naming the folder"
  ;;
nothing_to_do)
  run 1 "$work/run" || fail "run failed: $(cat "$work/run.log")"
  for steps in 12 8; do
    "$train" "$config" "${small[@]}" --run.dir="$work/run" --resume --train.max_steps=$steps >"$work/again.log" 2>&1
    code=$?
    cat "$work/again.log"
    [[ $code == 0 ]] || fail "exit code $code for a resume with nothing to do"
    [[ $(grep -c "train.max_steps = $steps" "$work/again.log") == 1 ]] || fail "no line saying there is nothing to do"
    ! grep -q "^step " "$work/again.log" || fail "trained although there was nothing to do"
  done
  ;;
fallback_prune)
  run 1 "$work/run" --checkpoint.keep_last=2 || fail "run failed: $(cat "$work/run.log")"
  truncate -s 100000 "$work/run/checkpoints/step_00000012.h5"
  "$train" "$config" "${small[@]}" --run.dir="$work/run" --checkpoint.keep_last=2 --train.max_steps=10 --resume \
    >"$work/b.log" 2>&1 || fail "resume after truncation failed: $(cat "$work/b.log")"
  grep -v "^step " "$work/b.log"
  grep -q "resumed at step 8" "$work/b.log" || fail "did not fall back to step 8"
  ls "$work/run/checkpoints"
  [[ -f $work/run/checkpoints/step_00000008.h5 && -f $work/run/checkpoints/step_00000010.h5 ]] ||
    fail "keep_last deleted a valid checkpoint: $(ls "$work/run/checkpoints")"
  [[ ! -e $work/run/checkpoints/step_00000012.h5 && -f $work/run/checkpoints/step_00000012.h5.corrupt ]] ||
    fail "the truncated checkpoint was not set aside"
  # A requeued job resumes again: the bad file must not be reported a second time.
  "$train" "$config" "${small[@]}" --run.dir="$work/run" --checkpoint.keep_last=2 --train.max_steps=11 --resume \
    >"$work/c.log" 2>&1 || fail "second resume failed: $(cat "$work/c.log")"
  grep -q "resumed at step 10" "$work/c.log" || fail "the second resume did not continue from step 10"
  [[ $(cat "$work/b.log" "$work/c.log" | grep -c "truncated") == 1 ]] || fail "the warning was not printed once"
  ;;
init_untied)
  run 1 "$work/src" --model.tie_embeddings=false --train.max_steps=4 || fail "untied run failed: $(cat "$work/src.log")"
  "$train" "$config" "${small[@]}" --run.dir="$work/ft" --train.max_steps=1 \
    --init-from="$work/src/checkpoints/step_00000004.h5" >"$work/ft.log" 2>&1
  code=$?
  grep -v "^step " "$work/ft.log"
  [[ $code == 0 ]] || fail "--init-from failed (code $code)"
  grep -q "lm_head.weight" "$work/ft.log" || fail "the unused lm_head.weight was not named"
  grep -q "from $work/src/checkpoints/step_00000004.h5" "$work/ft.log" || fail "no line saying where weights came from"
  ;;
second_run)
  launch 1 "$work/run" --train.max_steps=100000 --checkpoint.interval=2
  first=$job
  wait_for_step "$work/run" 3 || fail "the first run never reached step 3"
  "$train" "$config" "${small[@]}" --run.dir="$work/run" --checkpoint.resume=auto >"$work/second.log" 2>&1
  code=$?
  cat "$work/second.log"
  [[ $code == 2 ]] || fail "exit code $code for a second run in the same run.dir (expected 2)"
  [[ $(cat "$work/second.log") == "error: run.dir $work/run is in use by another train (pid $first on "* ]] ||
    fail "not one line naming the first run's pid"
  kill -9 "$first"
  wait "$first" 2>/dev/null
  # Two steps past the newest checkpoint: the first run may have gone on well past step 3
  # while the second started, and a resume at max_steps would have nothing to do.
  newest=$(ls "$work/run/checkpoints" | sed -n 's/^step_0*\([0-9][0-9]*\)\.h5$/\1/p' | sort -n | tail -n 1)
  [[ -n $newest ]] || fail "the first run left no checkpoint"
  run 1 "$work/run" --train.max_steps=$((newest + 2)) --resume ||
    fail "resume after the first run died: $(tail -3 "$work/run.log")"
  grep -q "resumed at step" "$work/run.log" || fail "did not resume"
  ;;
fault)
  kind=$1 shim=$2
  [[ -f $shim ]] || fail "no fault library $shim"
  dir=$work/run
  target=step_00000008.h5.tmp
  # Where the file's bytes go: the disk fills at its first byte, halfway, or 100 bytes before the
  # end, which is inside the metadata HDF5 writes when the file is closed.
  GPT_FAULT=trace GPT_FAULT_FILE=$target LD_PRELOAD=$shim "$train" "$config" "${small[@]}" --train.max_steps=8 \
    --run.dir="$work/trace" >"$work/trace.log" 2>&1 || fail "traced run failed: $(tail -3 "$work/trace.log")"
  total=$(awk '/^fault_inject: write/ {s += $NF} END {print s + 0}' "$work/trace.log")
  ((total > 1000000)) || fail "the trace saw $total bytes written (is the library preloaded?)"
  expect="No space left on device" fix=: resume=(--resume) resumed="resumed at step 4"
  case $kind in
  enospc_start) spec=enospc@0 ;;
  enospc_data) spec=enospc@$((total / 2)) ;;
  enospc_close) spec=enospc@$((total - 100)) ;;
  fsync_eio) spec=fsync=EIO expect="Input/output error" ;;
  fsync_enospc) spec=fsync=ENOSPC ;;
  rename_erofs) spec=rename=EROFS expect="Read-only file system" ;;
  vanish)
    spec=vanish@$((total / 2)) expect="No such file or directory"
    fix='mv "$dir/checkpoints.gone" "$dir/checkpoints"'
    ;;
  delete)
    # Nothing of the run's checkpoints is left: an automatic resume starts over, which reproduces
    # the run too (every random stream is a function of the seed and the step).
    spec=delete@$((total / 2)) expect="No such file or directory" resume=(--checkpoint.resume=auto) resumed=
    ;;
  remount_ro)
    # The checkpoints folder is its own filesystem: Linux refuses a read-only remount while a file
    # is open for writing on it, and metrics.jsonl is.
    [[ $(id -u) == 0 ]] || { echo "needs root to mount a tmpfs"; exit 77; }
    mkdir -p "$work/run/checkpoints"
    mount -t tmpfs -o size=200m tmpfs "$work/run/checkpoints" || { echo "cannot mount a tmpfs here"; exit 77; }
    spec=remount-ro expect="Read-only file system"
    export GPT_FAULT_MOUNT=$work/run/checkpoints
    fix='mount -o remount,rw "$GPT_FAULT_MOUNT"'
    ;;
  *) fail "unknown fault $kind" ;;
  esac
  run 1 "$work/whole" || fail "the run without a fault failed: $(cat "$work/whole.log")"
  GPT_FAULT=$spec GPT_FAULT_FILE=$target LD_PRELOAD=$shim "$train" "$config" "${small[@]}" --run.dir="$dir" \
    >"$work/faulted.log" 2>&1
  code=$?
  tail -2 "$work/faulted.log"
  ! grep "^fault_inject:" "$work/faulted.log" || fail "the fault could not be injected"
  [[ $code == 1 ]] || fail "exit code $code after fault $spec (expected 1; over 128 is a signal)"
  others=$(grep -vE '^(step |model: |run: |device: |memory: |checkpoint /|val_loss )' "$work/faulted.log")
  [[ $(printf '%s\n' "$others" | wc -l) == 1 && $others == error:* ]] || fail "expected one error line, got: $others"
  [[ $others == *step_00000008.h5* ]] || fail "the error does not name the file"
  [[ $others == *"$expect"* ]] || fail "the error does not say \"$expect\""
  if [[ $kind == delete || $kind == vanish ]]; then
    [[ $others == *"step_00000004.h5 is no longer there"* ]] || fail "the error does not say the last checkpoint is gone"
  else
    [[ $others == *"last good checkpoint is $dir/checkpoints/step_00000004.h5"* ]] ||
      fail "the error does not name the last good checkpoint"
  fi
  if [[ -d $dir/checkpoints ]]; then
    ls "$dir/checkpoints"
    ! ls "$dir/checkpoints" | grep -q '\.tmp\.' || fail "a temporary file was left"
    [[ ! -e $dir/checkpoints/step_00000008.h5 ]] || fail "the failed checkpoint is in place"
  fi
  eval "$fix"  # what the user does; a folder moved back brings its temporary file: pruned later
  run 1 "$dir" "${resume[@]}" || fail "the run after the fault failed: $(cat "$dir.log")"
  ! ls "$dir/checkpoints" | grep -q '\.tmp\.' || fail "a temporary file is still there after the run"
  [[ -z $resumed ]] || grep -q "$resumed" "$dir.log" || fail "did not continue from step 4: $(cat "$dir.log")"
  diff <(losses "$work/whole") <(losses "$dir") || fail "losses differ from the run without a fault"
  for group in /params /optim/m /optim/v; do
    h5diff "$work/whole/checkpoints/step_00000012.h5" "$dir/checkpoints/step_00000012.h5" $group $group ||
      fail "$group differs from the run without a fault"
  done
  ;;
*) fail "unknown mode $mode" ;;
esac
echo PASS
