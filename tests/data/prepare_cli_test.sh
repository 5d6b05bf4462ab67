#!/usr/bin/env bash
# The prepare binary as a user runs it: the sample text becomes the reference token files byte
# for byte (1 and 2 threads, llmc and raw, several inputs, a JSON shard, JSON Lines), bad input
# (options, inputs without a story, unknown extensions, outputs that are not regular files) exits
# 2 with one `error:` line and leaves no file, SIGINT mid-run exits 1 leaving no file, the next
# run cleans what a SIGKILL left, progress shows as periodic lines in a log and as a bar on a
# terminal, and memory stays bounded on one long story without a split point.
#   prepare_cli_test.sh PREPARE_BIN SAMPLE_DATA_DIR      ($GPT_DATA_DIR, when set, wins)
set -euo pipefail
source "$(cd "$(dirname "$0")/../cli" && pwd)/cli_lib.sh"
prepare="$(realpath "$1")"
data="$(cd "${GPT_DATA_DIR:-$2}/tinystories" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
leftovers() { find . -maxdepth 1 \( -name '*.bin*' -o -name '*.tmp-*' \) | sort | tr '\n' ' '; }

# Exit code 2, exactly one stderr line starting "error: " containing $2, nothing written; the
# command line is the rest (expect_bad_input adds --output out.bin).
expect_refused() {
  local what="$1" fragment="$2"
  shift 2
  expect_refusal "$what" "$fragment" -- "$prepare" "$@"
  [[ -z "$(leftovers)" ]] || fail "$what: left $(leftovers)"
  rm -f ./*.bin*
}
expect_bad_input() {
  local what="$1" fragment="$2"
  shift 2
  expect_refused "$what" "$fragment" "$@" --output out.bin
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
valid_txt="$data/TinyStories-valid-sample.txt"
expect_bad_input "val-output with a zero fraction" "--val-output v.bin needs a --val-fraction above 0" \
  --input "$valid_txt" --val-fraction 0 --val-output v.bin
expect_bad_input "val-output without a fraction" "--val-output v.bin needs a --val-fraction above 0" \
  --input "$valid_txt" --val-output v.bin
expect_bad_input "val-fraction 1" "--val-fraction must be from 0 to below 1, not 1" \
  --input "$valid_txt" --val-fraction 1 --val-output v.bin
# --batch-mb: what --help's range allows works, below it is refused naming the flag.
"$prepare" --input "$valid_txt" --output small-batches.bin --batch-mb 0.001 >/dev/null 2>stderr.txt ||
  fail "--batch-mb 0.001, within --help's range: $(cat stderr.txt)"
cmp -s small-batches.bin "$data/TinyStories-valid-sample.bin" || fail "--batch-mb 0.001: differs from the reference"
rm -f small-batches.bin
expect_bad_input "batch-mb below the range" "--batch-mb" --input "$valid_txt" --batch-mb 0.0005

# 2b. Inputs without a story, JSON Lines, names prepare does not read.
: >empty.txt
echo '[]' >empty.json
expect_bad_input "empty input" "empty.txt holds no story" --input empty.txt
expect_bad_input "empty shard" "empty.json holds no story" --input empty.json
expect_bad_input "empty inputs" "none of the 2 inputs holds a story" --input empty.txt empty.json
printf 'one\n<|endoftext|>\ntwo\n<|endoftext|>\nthree\n' >three.txt
expect_bad_input "empty validation split" "--val-fraction 0.1 of the 3 stories puts none in --val-output v.bin" \
  --input three.txt --val-fraction 0.1 --val-output v.bin
/usr/bin/python3 - "$valid_txt" valid.jsonl <<'PY'
import json, sys
stories = [s.strip() for s in open(sys.argv[1], encoding="utf-8").read().split("<|endoftext|>") if s.strip()]
with open(sys.argv[2], "w") as f:
    for s in stories:
        f.write(json.dumps({"story": " " + s + "\n", "source": "GPT-4"}) + "\n")
PY
"$prepare" --input valid.jsonl --output jsonl.bin >/dev/null 2>stderr.txt || fail "JSON Lines: $(cat stderr.txt)"
cmp -s jsonl.bin "$data/TinyStories-valid-sample.bin" || fail "JSON Lines: differs from the reference"
rm -f jsonl.bin
printf '{"story": "a"}\n{"story": "b", }\n' >bad.jsonl
expect_bad_input "bad JSON line" "bad.jsonl line 2 is not valid JSON" --input bad.jsonl
printf 'a story' >stories.csv
expect_bad_input "unknown extension" "stories.csv is not .txt, .json or .jsonl" --input "$valid_txt" stories.csv

# 2c. Outputs that are not regular files are refused and left as they were (renaming over one would
# replace it); a link to a regular file writes that file and keeps the link.
mkdir outs outs/folder
mkfifo outs/fifo
ln -s nowhere.bin outs/dangling.bin
ln -s fifo outs/to-fifo.bin
no_temporaries() { [[ -z "$(find outs -name '*.tmp-*')" ]] || fail "$1: left $(find outs -name '*.tmp-*')"; }
expect_refused "output a FIFO" "outs/fifo: is a FIFO" --input "$valid_txt" --output outs/fifo
expect_refused "val-output a FIFO" "outs/fifo: is a FIFO" --input "$valid_txt" --output outs/t.bin \
  --val-fraction 0.5 --val-output outs/fifo
[[ -p outs/fifo && ! -e outs/t.bin ]] || fail "output a FIFO: it was replaced, or --output written"
expect_refused "output a folder" "outs/folder: is a folder; name the token file itself" --input "$valid_txt" \
  --output outs/folder
expect_refused "output a dangling link" "outs/dangling.bin: is a symbolic link to nowhere.bin, which does not exist" \
  --input "$valid_txt" --output outs/dangling.bin
[[ -L outs/dangling.bin && ! -e outs/nowhere.bin ]] || fail "output a dangling link: it was replaced or followed"
expect_refused "output a link to a FIFO" "outs/to-fifo.bin: is a symbolic link to fifo, which is a FIFO" \
  --input "$valid_txt" --output outs/to-fifo.bin
[[ -L outs/to-fifo.bin && -p outs/fifo ]] || fail "output a link to a FIFO: replaced"
# A device node: a private one (never /dev/null itself), which only root can make.
if [[ $(id -u) -eq 0 ]] && mknod outs/nulldev c 1 3 2>/dev/null; then
  expect_refused "output a device" "outs/nulldev: is a character device" --input "$valid_txt" --output outs/nulldev
  [[ -c outs/nulldev ]] || fail "output a device: the device node was replaced"
else
  echo "note: not root (or mknod refused): the device-node output case did not run"
fi
no_temporaries "refused outputs"
echo old >outs/real.bin
ln -s real.bin outs/link.bin
"$prepare" --input "$valid_txt" --output outs/link.bin >/dev/null 2>stderr.txt || fail "output a link: $(cat stderr.txt)"
[[ -L outs/link.bin ]] || fail "output a link to a file: the link was replaced"
cmp -s outs/real.bin "$data/TinyStories-valid-sample.bin" || fail "output a link to a file: its target not written"
no_temporaries "output a link"
rm -rf outs

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

# 3b. SIGKILL mid-run leaves NAME.tmp-PID (nothing can remove it then): the next run for NAME
# removes it, and leaves alone the temporary of a live process (this shell's pid).
"$prepare" --input big.txt --output killed.bin --threads 1 --quiet >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [[ -e killed.bin.tmp-$pid ]] && break; sleep 0.02; done
sleep 0.2
kill -KILL "$pid"
{ wait "$pid"; } 2>/dev/null || true
if [[ ! -e killed.bin.tmp-$pid ]]; then
  fail "SIGKILL: no killed.bin.tmp-$pid left to clean (finished before the kill?): $(ls)"
else
  echo live >"killed.bin.tmp-$$"
  "$prepare" --input "$valid_txt" --output killed.bin >/dev/null 2>stderr.txt || fail "after SIGKILL: $(cat stderr.txt)"
  [[ ! -e killed.bin.tmp-$pid ]] || fail "SIGKILL: the next run left the dead run's killed.bin.tmp-$pid"
  [[ -e killed.bin.tmp-$$ ]] || fail "SIGKILL: the next run removed a live process's killed.bin.tmp-$$"
  cmp -s killed.bin "$data/TinyStories-valid-sample.bin" || fail "after SIGKILL: the output differs from the reference"
fi
rm -f killed.bin*

# 4. Progress: plain lines in a log, a bar redrawn in place on a terminal (script gives a pty).
"$prepare" --input big.txt --output big.bin --threads 2 --progress-interval 0.05 >/dev/null 2>log.txt
grep -Eq '^prepare: +[0-9.]+% [0-9.]+/[0-9.]+ MB +[0-9.]+ MB/s .* ETA ' log.txt || fail "no progress lines in a log: $(head -3 log.txt)"
if grep -q $'\r' log.txt; then fail "carriage returns in a log"; fi
if command -v script >/dev/null; then
  script -qec "'$prepare' --input big.txt --output big.bin --threads 2" /dev/null >tty.txt
  grep -q $'\r\033\\[Kprepare \\[#' tty.txt || fail "no progress bar on a terminal: $(head -c 300 tty.txt | od -c | head -5)"
fi

# 5. Memory is bounded by the longest story, not by merging it as one piece: a 20 MB story of
# punctuation (one pre-tokenizer piece, no split point) may use what a run on the small validation
# sample peaks at, plus 3 bytes per byte of the story (its text, and its tokens as uint16: a token
# covers at least one byte), plus 8 MiB for the allocator. Merging it whole took 515 MB.
peak_kib() {  # the peak RSS of one prepare run (getrusage of the children), -1 if it failed
  /usr/bin/python3 -c 'import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if rc == 0 else -1)' "$prepare" "$@"
}
/usr/bin/python3 -c "open('punctuation.txt', 'w').write('!@#\$%^&*()' * 2_000_000)"
small_kib=$(peak_kib --input "$valid_txt" --output mem.bin --threads 2 --quiet)
story_kib=$(( $(stat -c %s punctuation.txt) / 1024 ))
bound_kib=$((small_kib + 3 * story_kib + 8192))
long_kib=$(peak_kib --input punctuation.txt --output mem.bin --threads 2 --quiet)
echo "memory: peak RSS $((long_kib / 1024)) MiB for a $((story_kib / 1024)) MiB story of punctuation" \
  "(bound $((bound_kib / 1024)) MiB; $((small_kib / 1024)) MiB on the validation sample)"
if ((long_kib < 0 || small_kib < 0)); then
  fail "memory: a prepare run failed"
elif ((long_kib > bound_kib)); then
  fail "memory: peak RSS ${long_kib} KiB on a ${story_kib} KiB story, over the bound ${bound_kib} KiB"
fi
rm -f punctuation.txt mem.bin

if ((failures)); then
  echo "$failures failures"
  exit 1
fi
echo "prepare: reference files reproduced, refusals named, SIGINT clean, SIGKILL cleaned, progress shown, memory bounded"
