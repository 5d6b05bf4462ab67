#!/usr/bin/env bash
# data/download_tinystories.sh against a fake hub of file:// URLs made from the sample data:
# TinyStories-train.txt and TinyStories-valid.txt are the sample texts, and the JSON shards of
# TinyStories_all_data.tar.gz hold the sample stories (data00.json the validation ones, data01.json
# the train ones) with the fields the real shards have. Each source's train.bin and val.bin must
# equal the shipped TinyStories-{train,valid}-sample.bin byte for byte. Also checked: a partial
# download is resumed, a second run downloads nothing (the hub is gone by then), and an
# unreachable file is a clear error.
#
#   tests/data/download_test.sh PREPARE_BIN SAMPLE_DATA_DIR WORKDIR   (exit 0 pass, 1 fail, 77 skip)
set -euo pipefail
for tool in curl python3 tar; do
  if ! command -v "$tool" >/dev/null; then
    echo "skipped: $tool is not installed"
    exit 77
  fi
done
prepare=$(realpath "$1")
sample=$(realpath "$2")/tinystories
work=$3
script=$(realpath "$(dirname "$0")/../../data/download_tinystories.sh")
rm -rf "$work"
mkdir -p "$work/hub"
work=$(realpath "$work")
hub=$work/hub

fail() {
  echo "FAIL: $*"
  exit 1
}

cp "$sample/TinyStories-train-sample.txt" "$hub/TinyStories-train.txt"
cp "$sample/TinyStories-valid-sample.txt" "$hub/TinyStories-valid.txt"
# The shards as JSON arrays like the real ones. The stories keep the white space around them
# (prepare strips it); data00.json escapes non-ASCII as \uXXXX, data01.json writes it as UTF-8,
# so that both ways through prepare's JSON reader are covered.
python3 - "$sample" "$work/shards" <<'EOF'
import json, sys
from pathlib import Path
sample, shards = Path(sys.argv[1]), Path(sys.argv[2])
shards.mkdir()
for shard, split, ascii_only in (("data00", "valid", True), ("data01", "train", False)):
    text = (sample / f"TinyStories-{split}-sample.txt").read_text(encoding="utf-8")
    stories = [s for s in text.split("<|endoftext|>") if s.strip()]
    objects = [{"story": s, "instruction": {"prompt:": "Write a short story.", "words": ["ball", "happy"],
                                            "features": ["Dialogue"]},
                "summary": "A short story.", "source": "GPT-4"} for s in stories]
    (shards / f"{shard}.json").write_text(json.dumps(objects, ensure_ascii=ascii_only), encoding="utf-8")
EOF
tar -czf "$hub/TinyStories_all_data.tar.gz" -C "$work/shards" data00.json data01.json

for source in txt json; do
  out=$work/$source
  mkdir -p "$out"
  if [[ $source == txt ]]; then
    # Half the train text already there, as an interrupted download leaves it.
    head -c 1000000 "$hub/TinyStories-train.txt" >"$out/TinyStories-train.txt.part"
  fi
  TINYSTORIES_BASE_URL=file://$hub bash "$script" --source "$source" --dir "$out" --threads 2 \
    --prepare "$prepare" >"$work/$source-1.log" 2>&1 || { cat "$work/$source-1.log"; fail "$source: first run"; }
  cmp "$out/train.bin" "$sample/TinyStories-train-sample.bin" || fail "$source: train.bin differs"
  cmp "$out/val.bin" "$sample/TinyStories-valid-sample.bin" || fail "$source: val.bin differs"
  if [[ $source == txt ]]; then
    cmp "$out/TinyStories-train.txt" "$hub/TinyStories-train.txt" || fail "txt: the resumed download differs"
  fi
  # With the hub gone, a second run must find everything there and download nothing.
  TINYSTORIES_BASE_URL=file://$work/no-hub bash "$script" --source "$source" --dir "$out" \
    --prepare "$prepare" >"$work/$source-2.log" 2>&1 || { cat "$work/$source-2.log"; fail "$source: second run"; }
  if grep -E '^(downloading|unpacking|prepare:)' "$work/$source-2.log"; then
    fail "$source: the second run did the above again"
  fi
  echo "$source: train.bin and val.bin equal the sample's$([[ $source == txt ]] && echo ', a partial download resumed'); a second run reused all"
done

# Unreachable: exit 1 with an error line naming the address, and no file that looks complete.
set +e
TINYSTORIES_BASE_URL=file://$work/no-hub bash "$script" --dir "$work/offline" --prepare "$prepare" \
  >"$work/offline.log" 2>&1
rc=$?
set -e
((rc == 1)) || { cat "$work/offline.log"; fail "unreachable hub: exit $rc, want 1"; }
grep -q "^error: cannot download file://$work/no-hub/TinyStories-train.txt" "$work/offline.log" ||
  { cat "$work/offline.log"; fail "unreachable hub: no error line naming the file"; }
[[ ! -e $work/offline/TinyStories-train.txt ]] || fail "unreachable hub: a file was left as if complete"
echo "unreachable hub: exit 1 with an error line"
