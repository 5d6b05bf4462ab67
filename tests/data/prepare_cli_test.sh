#!/usr/bin/env bash
# The prepare binary as a user runs it: the sample text becomes the reference token files byte
# for byte (1 and 2 threads, llmc and raw, several inputs, a JSON shard), bad input exits 2 with
# one `error:` line and leaves no file, SIGINT mid-run exits 1 leaving no file, and progress
# shows as periodic lines in a log and as a bar on a terminal.
#   prepare_cli_test.sh PREPARE_BIN SAMPLE_DATA_DIR      ($GPT_DATA_DIR, when set, wins)
set -euo pipefail
prepare="$(realpath "$1")"
data="$(cd "${GPT_DATA_DIR:-$2}/tinystories" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
leftovers() { find . -maxdepth 1 \( -name '*.bin*' -o -name '*.tmp-*' \) | sort | tr '\n' ' '; }

# Exit code 2, exactly one stderr line starting "error: " containing $2, nothing written.
expect_bad_input() {
  local what="$1" fragment="$2"
  shift 2
  local rc=0
  "$prepare" "$@" --output out.bin >stdout.txt 2>stderr.txt || rc=$?
  if [[ $rc -ne 2 ]]; then fail "$what: exit code $rc, not 2: $(cat stderr.txt)"; return; fi
  if [[ $(wc -l <stderr.txt) -ne 1 ]] || ! grep -q '^error: ' stderr.txt; then
    fail "$what: stderr is not one 'error:' line: $(cat stderr.txt)"; return
  fi
  grep -qF -- "$fragment" stderr.txt || fail "$what: the error does not mention '$fragment': $(cat stderr.txt)"
  [[ -z "$(leftovers)" ]] || fail "$what: left $(leftovers)"
  rm -f ./*.bin*
}

# 1. The reference files, byte for byte.
for threads in 1 2; do
  "$prepare" --input "$data/TinyStories-train-sample.txt" --output train.bin --threads "$threads" --batch-mb 0.1 >/dev/null
  cmp -s train.bin "$data/TinyStories-train-sample.bin" || fail "train sample, $threads threads: differs from the reference"
done
"$prepare" --input "$data/TinyStories-valid-sample.txt" --output valid.bin >/dev/null
cmp -s valid.bin "$data/TinyStories-valid-sample.bin" || fail "valid sample: differs from the reference"
"$prepare" --input "$data/TinyStories-train-sample.txt" "$data/TinyStories-valid-sample.txt" --output both.raw \
  --format raw >/dev/null
cmp -s both.raw <(tail -c +1025 "$data/TinyStories-train-sample.bin"; tail -c +1025 "$data/TinyStories-valid-sample.bin") ||
  fail "two inputs, raw: not the two references' tokens one after the other"
/usr/bin/python3 - "$data/TinyStories-valid-sample.txt" shard.json <<'PY'
import json, sys
stories = [s.strip() for s in open(sys.argv[1], encoding="utf-8").read().split("<|endoftext|>") if s.strip()]
json.dump([{"story": s, "instruction": {"prompt:": "Write a story."}, "summary": "", "source": "GPT-3.5"}
           for s in stories], open(sys.argv[2], "w"))
PY
"$prepare" --input shard.json --output shard.bin >/dev/null
cmp -s shard.bin "$data/TinyStories-valid-sample.bin" || fail "JSON shard: differs from the reference"
"$prepare" --input "$data/TinyStories-train-sample.txt" --output t.bin --val-fraction 0.05 --val-output v.bin >split.txt
grep -q "v.bin: .* 115 stories" split.txt || fail "validation split: $(cat split.txt)"
rm -f ./*.bin ./*.raw

# 2. Bad input.
printf 'a story\n<|endoftext|>\nbad \xff byte\n' >broken.txt
expect_bad_input "invalid UTF-8" "broken.txt is not valid UTF-8 at byte offset 26" --input broken.txt
expect_bad_input "missing input" "nope.txt does not exist" --input nope.txt
printf '[{"story": "a"},' >truncated.json
expect_bad_input "truncated JSON" "truncated.json is not valid JSON" --input truncated.json
expect_bad_input "no vocabulary" "encoder.json" --input broken.txt --vocab-dir "$work"
expect_bad_input "bad format" "--format" --input broken.txt --format bin
expect_bad_input "val without output" "--val-fraction 0.1 needs --val-output" --input "$data/TinyStories-valid-sample.txt" --val-fraction 0.1
expect_bad_input "no input" "--input" --threads 2

# 3. SIGINT mid-run: exit 1, one error line, nothing left.
for _ in $(seq 40); do cat "$data/TinyStories-train-sample.txt"; echo '<|endoftext|>'; done >big.txt
"$prepare" --input big.txt --output big.bin --threads 1 --quiet >/dev/null 2>sigint.txt &
pid=$!
sleep 0.7
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
if [[ $rc -eq 0 ]]; then
  echo "note: prepare finished before the signal; the SIGINT case did not run"
  fail "SIGINT: prepare finished within 0.7 s on 84 MB, so the interrupt went untested"
else
  [[ $rc -eq 1 ]] || fail "SIGINT: exit code $rc, not 1"
  grep -q '^error: .*stopped by a signal' sigint.txt || fail "SIGINT: $(cat sigint.txt)"
  [[ -z "$(leftovers)" ]] || fail "SIGINT: left $(leftovers)"
fi

# 4. Progress: plain lines in a log, a bar redrawn in place on a terminal (script gives a pty).
"$prepare" --input big.txt --output big.bin --threads 2 --progress-interval 0.05 >/dev/null 2>log.txt
grep -Eq '^prepare: +[0-9.]+% [0-9.]+/[0-9.]+ MB +[0-9.]+ MB/s .* ETA ' log.txt || fail "no progress lines in a log: $(head -3 log.txt)"
if grep -q $'\r' log.txt; then fail "carriage returns in a log"; fi
if command -v script >/dev/null; then
  script -qec "'$prepare' --input big.txt --output big.bin --threads 2" /dev/null >tty.txt
  grep -q $'\rprepare \[#' tty.txt || fail "no progress bar on a terminal: $(head -c 300 tty.txt | od -c | head -5)"
fi

if ((failures)); then
  echo "$failures failures"
  exit 1
fi
echo "prepare: reference files reproduced, refusals named, SIGINT clean, progress shown"
