#!/usr/bin/env bash
# Training and generation end to end, as a user runs them: the tiny config trains briefly,
# writing a sample every 20 steps to its log and samples.txt; `generate` continues a prompt from
# the run's newest checkpoint (streamed, valid UTF-8, at most --max-new-tokens tokens, the same
# text for the same seed), prints beams and batched samples, and refuses bad input with one
# `error:` line and exit code 2.
#   generate_cli_test.sh TRAIN_BIN GENERATE_BIN CONFIG SAMPLE_DATA_DIR   ($GPT_DATA_DIR, when set, wins)
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/cli_lib.sh"
train="$(realpath "$1")"
generate="$(realpath "$2")"
config="$(realpath "$3")"
data="$(cd "${GPT_DATA_DIR:-$4}/tinystories" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
valid_utf8() { iconv -f UTF-8 -t UTF-8 "$1" >/dev/null 2>&1; }
# Every refusal runs with 8 GiB of address space and 60 s: one that allocated what it was asked
# for would fail with bad_alloc (exit 1) instead of reaching the OOM killer, and a hang ends.
limits=(timeout -k 5 60 prlimit --as=8589934592 --)

# Exit code 2 and exactly one stderr line, "error: ..." containing $2.
expect_bad_input() {
  local what="$1" fragment="$2"
  shift 2
  expect_refusal "$what" "$fragment" -- "${limits[@]}" "$generate" "$@"
}

# 1. A short run that samples every 20 steps.
"$train" "$config" --data.train="$data/TinyStories-train-sample.bin" --data.val="$data/TinyStories-valid-sample.bin" \
  --run.dir=run --train.max_steps=40 --eval.interval=0 --log.sample_interval=20 --log.sample_tokens=24 >train.log 2>&1 ||
  { cat train.log; fail "train exited $?"; }
[[ $(grep -c '^sample at step' train.log) -eq 2 ]] || fail "the log does not hold two samples: $(cat train.log)"
[[ $(grep -c '^--- step [24]0 ---$' run/samples.txt) -eq 2 ]] || fail "samples.txt lacks steps 20 and 40: $(cat run/samples.txt)"
grep -q '^Once upon a time' run/samples.txt || fail "the samples do not continue the prompt: $(cat run/samples.txt)"
checkpoint="run/checkpoints/step_00000040.h5"
[[ -f $checkpoint ]] || fail "no checkpoint at step 40"

# 2. Generation: streamed text that decodes, continues the prompt, stops at the limit, repeats per seed.
for args in "--run-dir run" "--checkpoint $checkpoint"; do
  # shellcheck disable=SC2086
  "$generate" $args --prompt "Once upon a time" --max-new-tokens 40 --seed 5 >out.txt 2>err.txt ||
    fail "generate $args exited $?: $(cat err.txt)"
  head -c 16 out.txt | grep -qx 'Once upon a time' || fail "generate $args: the output does not start with the prompt"
  valid_utf8 out.txt || fail "generate $args: the output is not valid UTF-8"
  new=$(sed -n 's/.* \([0-9]*\) new tokens x 1 sequence.*/\1/p' err.txt)
  [[ -n $new && $new -ge 1 && $new -le 40 ]] || fail "generate $args: $new new tokens, not 1..40: $(cat err.txt)"
  grep -q 'ms/token' err.txt || fail "generate $args: no statistics on stderr"
done
"$generate" --run-dir run --prompt "Once upon a time" --max-new-tokens 40 --seed 5 >again.txt 2>/dev/null
cmp -s out.txt again.txt || fail "the same seed gave other text"
"$generate" --run-dir run --prompt "Once upon a time" --max-new-tokens 40 --seed 6 >other.txt 2>/dev/null
cmp -s out.txt other.txt && fail "seeds 5 and 6 gave the same text"
printf 'Lily and Tom' >prompt.txt
"$generate" --run-dir run --prompt-file prompt.txt --max-new-tokens 10 --temperature 0 >greedy.txt 2>/dev/null
head -c 12 greedy.txt | grep -qx 'Lily and Tom' || fail "--prompt-file: the output does not start with the file's text"

# 3. Beams and batches.
"$generate" --run-dir run --prompt "Once upon a time" --max-new-tokens 12 --beam-width 3 --show-beams >beams.txt 2>err.txt ||
  fail "beam search exited $?: $(cat err.txt)"
[[ $(grep -c '^--- beam [123]: score ' beams.txt) -eq 3 ]] || fail "--show-beams did not print 3 beams: $(cat beams.txt)"
"$generate" --run-dir run --prompt "Once upon a time" --max-new-tokens 12 --num-samples 3 >samples.txt 2>err.txt ||
  fail "--num-samples exited $?: $(cat err.txt)"
[[ $(grep -c '^--- sample [123] ---$' samples.txt) -eq 3 ]] || fail "--num-samples 3 did not print 3 samples"
valid_utf8 beams.txt && valid_utf8 samples.txt || fail "beams or samples are not valid UTF-8"

# 4. Bad input.
expect_bad_input "no checkpoint" "--checkpoint, --run-dir or --hf" --prompt x
expect_bad_input "no prompt" "--prompt or --prompt-file" --run-dir run
expect_bad_input "missing file" "missing.h5" --checkpoint missing.h5 --prompt x
expect_bad_input "empty run dir" "no valid checkpoint" --run-dir "$work/nothing" --prompt x
cp "$checkpoint" corrupt.h5
printf 'garbage' | dd of=corrupt.h5 bs=1 seek=4096 conv=notrunc status=none
expect_bad_input "corrupt checkpoint" "corrupt.h5" --checkpoint corrupt.h5 --prompt x
head -c 10000 "$checkpoint" >truncated.h5
expect_bad_input "truncated checkpoint" "truncated.h5" --checkpoint truncated.h5 --prompt x
expect_bad_input "empty prompt" "--prompt is empty" --run-dir run --prompt ""
: >empty.txt
expect_bad_input "empty prompt file" "--prompt-file is empty" --run-dir run --prompt-file empty.txt
expect_bad_input "top-p 0" "--top-p" --run-dir run --prompt x --top-p 0
expect_bad_input "top-p 1.5" "--top-p" --run-dir run --prompt x --top-p 1.5
expect_bad_input "top-k -1" "--top-k" --run-dir run --prompt x --top-k -1
expect_bad_input "temperature -1" "--temperature" --run-dir run --prompt x --temperature -1
expect_bad_input "beam width 0" "--beam-width" --run-dir run --prompt x --beam-width 0
expect_bad_input "max-new-tokens 0" "--max-new-tokens" --run-dir run --prompt x --max-new-tokens 0
expect_bad_input "both prompts" "excludes" --run-dir run --prompt x --prompt-file prompt.txt
# Hostile sizes and numbers: refused before anything is allocated or any arithmetic wraps.
expect_bad_input "beam width 60000" "reduce --beam-width" --run-dir run --prompt x --beam-width 60000
expect_bad_input "a billion samples" "reduce --num-samples" --run-dir run --prompt x --num-samples 1000000000
expect_bad_input "num-samples 0" "--num-samples" --run-dir run --prompt x --num-samples 0
expect_bad_input "max-new-tokens 2^63-1" "--max-new-tokens" --run-dir run --prompt x --max-new-tokens 9223372036854775807
expect_bad_input "max-new-tokens 2^63" "--max-new-tokens" --run-dir run --prompt x --max-new-tokens 9223372036854775808
expect_bad_input "a trillion new tokens" "--max-new-tokens" --run-dir run --prompt x --max-new-tokens 1000000000000
expect_bad_input "slide -1" "--slide" --run-dir run --prompt x --slide -1
expect_bad_input "seed -1" "--seed must be a whole number from 0 to 18446744073709551615" --run-dir run --prompt x --seed -1
expect_bad_input "seed 2^64" "--seed" --run-dir run --prompt x --seed 18446744073709551616
expect_bad_input "seed 1e3" "--seed" --run-dir run --prompt x --seed 1e3
"$generate" --run-dir run --prompt x --max-new-tokens 2 --seed 18446744073709551615 >/dev/null 2>err.txt ||
  fail "--seed 2^64-1 was refused: $(cat err.txt)"
mkdir -p prompt_dir
expect_bad_input "prompt file is a folder" "--prompt-file prompt_dir is a folder" --run-dir run --prompt-file prompt_dir
expect_bad_input "prompt file missing" "--prompt-file nowhere.txt: No such file" --run-dir run --prompt-file nowhere.txt
# A pipe is read to its end: --prompt-file /dev/stdin works.
printf 'Lily and Tom' | "$generate" --run-dir run --prompt-file /dev/stdin --max-new-tokens 10 --temperature 0 \
  >piped.txt 2>err.txt || fail "--prompt-file /dev/stdin exited $?: $(cat err.txt)"
cmp -s piped.txt greedy.txt || fail "--prompt-file /dev/stdin gave other text than the file"
# On a machine without a GPU the refusal names generate's flag, not train's config key.
rc=0
"$generate" --run-dir run --prompt x --max-new-tokens 2 --backend cuda >/dev/null 2>err.txt || rc=$?
if ((rc != 0)); then
  [[ $rc -eq 2 ]] && grep -q '^error: --backend cuda: ' err.txt && ! grep -q 'train\.' err.txt ||
    fail "--backend cuda without a GPU: exit $rc: $(cat err.txt)"
fi
# A model whose vocabulary is not GPT-2's: 50300 real ids.
"$train" "$config" --data.train="$data/TinyStories-train-sample.bin" --data.val="$data/TinyStories-valid-sample.bin" \
  --run.dir=other --train.max_steps=1 --eval.interval=0 --model.real_vocab_size=50300 >other.log 2>&1 ||
  fail "training the other-vocabulary model exited $?: $(cat other.log)"
expect_bad_input "other vocabulary" "real_vocab_size" --run-dir other --prompt x
# The trainer refuses an empty sample prompt before training.
rc=0
"$train" "$config" --data.train="$data/TinyStories-train-sample.bin" --run.dir=empty --train.max_steps=1 \
  --log.sample_interval=1 --log.sample_prompt= >empty.log 2>&1 || rc=$?
[[ $rc -eq 2 ]] && grep -q '^error: .*log.sample_prompt' empty.log || fail "an empty log.sample_prompt: exit $rc: $(cat empty.log)"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "generate CLI: all checks passed"
