#!/usr/bin/env bash
# export over an existing folder, as a crash, a full disk and a user's links meet it: killed at
# every step (the fault library's kill@N) the folder is byte for byte the old export or the new
# one, never a mix; a full disk is exit code 1 naming the file with the folder as it was and no
# temporary left; a vocab.json that links to a user's file leaves that file alone; files export
# does not write survive; a stale <DIR>.tmp-<pid> of a dead process is removed; a DIR that is a
# file and an empty --hf-out are refused (exit code 2).
#   export_safety_test.sh TRAIN_BIN EXPORT_BIN FAULT_LIB CONFIG SAMPLE_DATA_DIR   ($GPT_DATA_DIR, when set, wins)
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/cli_lib.sh"
train="$(realpath "$1")"
export_bin="$(realpath "$2")"
fault_lib="$(realpath "$3")"
config="$(realpath "$4")"
data="$(cd "${GPT_DATA_DIR:-$5}/tinystories" && pwd)"
work="$(mktemp -d)"
mounted=""
cleanup() {
  [[ -n $mounted ]] && umount "$mounted"
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export_run() { "$export_bin" --run-dir run "$@"; }
# The folders beside DIR that an export leaves only when killed.
leftovers() { compgen -G "$1.tmp-*" || true; compgen -G "$1.old-*" || true; }

# Exit code 2 and exactly one stderr line, "error: ..." containing each further argument.
expect_bad_input() {
  local what="$1"
  shift
  expect_refusal "$what" "$@" -- "${command[@]}"
}

# A tiny model (small enough that an export takes a fraction of a second), one checkpoint.
"$train" "$config" --data.train="$data/TinyStories-train-sample.bin" --data.val="$data/TinyStories-valid-sample.bin" \
  --eval.interval=0 --log.tensorboard=false --run.dir=run --train.max_steps=1 --model.n_layer=1 --model.n_head=2 \
  --model.n_embd=32 --model.block_size=32 --train.seq_len=32 --train.micro_batch=2 --train.batch_tokens=64 \
  >train.log 2>&1 || { cat train.log; fail "train exited"; exit 1; }

# References from clean exports: the old folder (float32, with a user's README.md and a subfolder)
# and the new one (bfloat16 exported over a copy of it: the user's files kept).
export_run --hf-out ref_old >/dev/null || fail "export to ref_old exited $?"
echo "the user's notes" >ref_old/README.md
mkdir ref_old/notes && echo "a user's file in a subfolder" >ref_old/notes/a.txt
cp -a ref_old ref_new
export_run --hf-out ref_new --dtype bfloat16 >/dev/null || fail "export over ref_new exited $?"
cmp -s ref_old/README.md ref_new/README.md && cmp -s ref_old/notes/a.txt ref_new/notes/a.txt ||
  fail "the user's README.md or notes/a.txt did not survive an export: $(ls -R ref_new)"
cmp -s ref_old/model.safetensors ref_new/model.safetensors && fail "the bfloat16 weights equal the float32 ones"
cmp -s ref_old/config.json ref_new/config.json && fail "the bfloat16 config.json equals the float32 one"
[[ -z $(leftovers ref_new) ]] || fail "a clean export left $(leftovers ref_new)"

# 1. Killed at every step of an export over the old folder (from 1 up to the first run that
# finishes): the folder is the old one or the new one, never a mix.
kills=0 saw_old=0 saw_new=0 saw_new_with_old_left=0 finished=0
for ((n = 1; n <= 1000; n++)); do
  rm -rf target target.tmp-* target.old-*
  cp -a ref_old target
  rc=0
  { GPT_FAULT="kill@$n" GPT_FAULT_FILE=target LD_PRELOAD="$fault_lib" \
    "$export_bin" --run-dir run --hf-out target --dtype bfloat16 >kill.out 2>&1; } 2>/dev/null || rc=$?
  if [[ $rc -eq 0 ]]; then finished=1; break; fi
  [[ $rc -eq 137 ]] || { fail "kill@$n: exit code $rc, not 137 (SIGKILL): $(cat kill.out)"; continue; }
  kills=$((kills + 1))
  if diff -r -q target ref_old >/dev/null 2>&1; then
    saw_old=$((saw_old + 1))
  elif diff -r -q target ref_new >/dev/null 2>&1; then
    saw_new=$((saw_new + 1))
    [[ -n $(leftovers target) ]] && saw_new_with_old_left=$((saw_new_with_old_left + 1))
  else
    fail "kill@$n: target is neither the old export nor the new one: $(diff -r -q target ref_old 2>&1 | head -3 |
      tr '\n' ' ')/ $(diff -r -q target ref_new 2>&1 | head -3 | tr '\n' ' ')"
  fi
  for left in $(leftovers target); do
    [[ -d $left ]] || fail "kill@$n: $left is not a folder"
  done
done
((finished)) || fail "the export was still killed at step 1000"
diff -r -q target ref_new >/dev/null || fail "the unkilled export did not write the new folder: $(diff -r -q target ref_new)"
[[ -z $(leftovers target) ]] || fail "the unkilled export left $(leftovers target)"
((kills >= 30 && saw_old > 0 && saw_new > 0 && saw_new_with_old_left > 0)) ||
  fail "the kills did not reach every phase: $kills kills, $saw_old saw the old folder, $saw_new the new one," \
    "$saw_new_with_old_left of them with the old folder not yet removed"
echo "killed at each of $kills steps: $saw_old times the old folder, $saw_new times the new one"

# 2. A killed export's temporary folder is removed by the next export to the same folder; that of
# a process still alive (this shell) is not.
rm -rf target && cp -a ref_old target
{ GPT_FAULT=kill@20 GPT_FAULT_FILE=target LD_PRELOAD="$fault_lib" \
  "$export_bin" --run-dir run --hf-out target >/dev/null 2>&1; } 2>/dev/null || true
[[ -n $(leftovers target) ]] || fail "kill@20 left no temporary folder to clean (the test needs one)"
sleep 0 & wait $!
dead_pid=$!
mkdir "target.old-$dead_pid" "target.tmp-$$"
export_run --hf-out target >/dev/null || fail "export after a killed one exited $?"
[[ $(leftovers target) == "target.tmp-$$" ]] ||
  fail "after an export, beside target: '$(leftovers target | tr '\n' ' ')', not only the live target.tmp-$$"
rm -rf "target.tmp-$$" "target.old-$dead_pid"

# 3. A full disk, from the fault library (merges.txt's writes fail after 1000 bytes): exit code 1,
# one error line naming the file and "No space left on device", the old folder as it was, no
# temporary left.
rm -rf target && cp -a ref_old target
rc=0
GPT_FAULT=enospc@1000 GPT_FAULT_FILE=merges.txt LD_PRELOAD="$fault_lib" \
  "$export_bin" --run-dir run --hf-out target --dtype bfloat16 >stdout.txt 2>stderr.txt || rc=$?
[[ $rc -eq 1 ]] || fail "export on a full disk (enospc@1000 on merges.txt): exit code $rc, not 1: $(cat stderr.txt)"
[[ $(grep -c . stderr.txt) -eq 1 ]] && grep -q '^error: .*merges\.txt.*: No space left on device' stderr.txt ||
  fail "the full disk is not one error line naming merges.txt and ENOSPC: $(cat stderr.txt)"
diff -r -q target ref_old >/dev/null || fail "a full disk changed the old folder: $(diff -r -q target ref_old)"
[[ -z $(leftovers target) ]] || fail "a full disk left $(leftovers target)"

# The same on a real full filesystem (a tmpfs, root only): room for the old folder and the new
# one's files up to half of merges.txt.
if [[ $(id -u) == 0 ]] && mkdir full && mount -t tmpfs -o size=64m tmpfs full; then
  mounted="$work/full"
  cp -a ref_new full/target  # the old folder here: the small bfloat16 one, the float32 one then fills the disk
  used_kb=$(du -sk full | cut -f1)
  new_kb=$(du -sk ref_old/model.safetensors ref_old/config.json ref_old/vocab.json | awk '{s += $1} END {print s}')
  half_merges_kb=$(($(du -k ref_old/merges.txt | cut -f1) / 2))
  mount -o remount,size=$((used_kb + new_kb + half_merges_kb))k full
  cp -a full/target before_full
  rc=0
  export_run --hf-out full/target >stdout.txt 2>stderr.txt || rc=$?
  [[ $rc -eq 1 ]] || fail "export on a full tmpfs: exit code $rc, not 1: $(cat stderr.txt)"
  [[ $(grep -c . stderr.txt) -eq 1 ]] && grep -q '^error: .*full/target.*: No space left on device' stderr.txt ||
    fail "the full tmpfs is not one error line naming the file and ENOSPC: $(cat stderr.txt)"
  diff -r -q full/target before_full >/dev/null || fail "a full tmpfs changed the old folder"
  [[ -z $(leftovers full/target) ]] || fail "a full tmpfs left $(leftovers full/target)"
  echo "full tmpfs: $(cat stderr.txt)"
  umount full && mounted=""
else
  echo "skipped the real full filesystem: needs root and a tmpfs mount (the fault library's ENOSPC ran)"
fi

# 4. vocab.json a symlink to a user's file: the file is left alone, vocab.json becomes a regular file.
rm -rf target && cp -a ref_old target
echo "a user's file, not GPT-2's vocabulary" >users_file.txt && cp users_file.txt users_file.orig
rm target/vocab.json && ln -s "$work/users_file.txt" target/vocab.json
export_run --hf-out target >/dev/null || fail "export over a linked vocab.json exited $?"
cmp -s users_file.txt users_file.orig || fail "export wrote through target/vocab.json into the user's file"
[[ -f target/vocab.json && ! -L target/vocab.json ]] || fail "target/vocab.json is not a regular file"
cmp -s target/vocab.json ref_old/vocab.json || fail "target/vocab.json is not GPT-2's vocabulary"

# 5. DIR a symlink to a folder: the folder it points to is replaced, the link stays.
rm -rf target && cp -a ref_old target && ln -s target linked
export_run --hf-out linked --dtype bfloat16 >/dev/null || fail "export to a link to a folder exited $?"
[[ -L linked && $(readlink linked) == target ]] || fail "the link linked is gone or changed"
diff -r -q target ref_new >/dev/null || fail "export through the link did not replace target"
[[ -z $(leftovers target) && -z $(leftovers linked) ]] || fail "export through a link left $(leftovers target)"

# 6. A filesystem without RENAME_EXCHANGE (the fault library's no-exchange): two renames instead.
rm -rf target && cp -a ref_old target
GPT_FAULT=no-exchange GPT_FAULT_FILE=target LD_PRELOAD="$fault_lib" \
  "$export_bin" --run-dir run --hf-out target --dtype bfloat16 >/dev/null 2>&1 || fail "export with no-exchange exited $?"
diff -r -q target ref_new >/dev/null || fail "export without RENAME_EXCHANGE did not write the new folder"
[[ -z $(leftovers target) ]] || fail "export without RENAME_EXCHANGE left $(leftovers target)"

# 7. Refusals: a DIR that is a file, an empty --hf-out, a folder that is no Hugging Face folder.
echo "a user's file" >a_file && cp a_file a_file.orig
command=("$export_bin" --run-dir run --hf-out a_file)
expect_bad_input "export to a file" "a_file" "not a folder"
cmp -s a_file a_file.orig || fail "a refused export changed a_file"
[[ -z $(leftovers a_file) ]] || fail "a refused export left $(leftovers a_file)"
command=("$export_bin" --run-dir run --hf-out "")
expect_bad_input "export --hf-out ''" "--hf-out"
# A folder with files but no config.json (a project folder, ".", a home) is not replaced by a copy
# of itself (the tool fuzz found `--hf-out .` swapping the working folder).
mkdir -p project/src && echo "code" >project/src/main.c && echo "notes" >project/README.md
find project -type f -printf '%p %s %i\n' | sort >project.before
command=("$export_bin" --run-dir run --hf-out project)
expect_bad_input "export over a project folder" "--hf-out project" "no config.json"
find project -type f -printf '%p %s %i\n' | sort | cmp -s - project.before || fail "a refused export changed project/"
[[ -z $(leftovers project) ]] || fail "a refused export left $(leftovers project)"
command=("$export_bin" --run-dir "$work/run" --hf-out .)
pushd project >/dev/null && expect_bad_input "export --hf-out ." "--hf-out ." "no config.json" && popd >/dev/null

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "export_safety: old or new folder at every kill, full disk, links, user's files, stale temporaries, refusals"
