#!/usr/bin/env bash
# Downloads TinyStories (Eldan and Li, 2023) from the Hugging Face hub and tokenizes it with
# prepare into DIR/train.bin and DIR/val.bin (llm.c's token file layout).
#
#   data/download_tinystories.sh [--source txt|json] [--dir DIR] [--threads N] [--prepare PATH]
#
# --source txt (default): TinyStories-train.txt and TinyStories-valid.txt (about 2.2 GB).
# --source json: TinyStories_all_data.tar.gz (about 1.5 GB, 50 JSON shards), unpacked into
#   DIR/TinyStories_all_data; data00.json is the validation split, data01..data49.json the train
#   split (llm.c's convention).
# DIR defaults to data/tinystories in the checkout, prepare to build/launch/prepare.
# Downloads go to NAME.part and are renamed when complete: a rerun resumes a partial one
# (curl -C -) and skips complete ones; prepare reruns only when its output is older than its
# inputs. TINYSTORIES_BASE_URL replaces the hub's address (tests point it at file:// URLs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=${TINYSTORIES_BASE_URL:-https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main}
source=txt
dir=$root/data/tinystories
prepare=$root/build/launch/prepare
threads=()
usage="usage: $0 [--source txt|json] [--dir DIR] [--threads N] [--prepare PATH]"
while (($#)); do
  case "$1" in
    --source) source=${2:?$usage}; shift 2 ;;
    --dir) dir=${2:?$usage}; shift 2 ;;
    --threads) threads=(--threads "${2:?$usage}"); shift 2 ;;
    --prepare) prepare=${2:?$usage}; shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "error: unknown argument '$1'; $usage" >&2; exit 1 ;;
  esac
done
if [[ $source != txt && $source != json ]]; then
  echo "error: --source must be txt or json, not '$source'" >&2
  exit 1
fi
if ! command -v curl >/dev/null; then
  echo "error: curl is not installed (apt-get install curl)" >&2
  exit 1
fi
if [[ ! -x $prepare ]]; then
  echo "error: no prepare program at $prepare (build the repository, or pass --prepare PATH)" >&2
  exit 1
fi
mkdir -p "$dir"

# Fetches $base/NAME into $dir/NAME unless that is there already.
download() {
  local name=$1 dest=$dir/$1
  if [[ -f $dest ]]; then
    echo "have $dest"
    return
  fi
  echo "downloading $base/$name"
  local rc=0
  curl --fail --location --retry 3 --progress-bar --continue-at - --output "$dest.part" "$base/$name" || rc=$?
  if ((rc != 0)); then
    echo "error: cannot download $base/$name (curl exit $rc: offline, or the hub unreachable?);" \
      "a rerun resumes where it stopped" >&2
    exit 1
  fi
  mv "$dest.part" "$dest"
}

# Whether OUT exists and is newer than every one of INPUTS...
up_to_date() {
  local out=$1 input
  shift
  [[ -f $out ]] || return 1
  for input in "$@"; do
    [[ $out -nt $input ]] || return 1
  done
}

# Runs prepare for OUT from INPUTS... unless OUT is up to date.
tokenize() {
  local out=$1
  shift
  if up_to_date "$out" "$@"; then
    echo "have $out"
    return
  fi
  # prepare writes a temporary file and renames it when done: an interrupted run leaves no output.
  "$prepare" --input "$@" --output "$out" "${threads[@]}"
}

if [[ $source == txt ]]; then
  download TinyStories-train.txt
  download TinyStories-valid.txt
  tokenize "$dir/val.bin" "$dir/TinyStories-valid.txt"
  tokenize "$dir/train.bin" "$dir/TinyStories-train.txt"
else
  download TinyStories_all_data.tar.gz
  shards=$dir/TinyStories_all_data
  if [[ ! -d $shards ]]; then
    echo "unpacking into $shards"
    rm -rf "$shards.part"
    mkdir "$shards.part"
    # -m: the shards get the time of unpacking, so that prepare's outputs count as older.
    tar -xzmf "$dir/TinyStories_all_data.tar.gz" -C "$shards.part"
    mv "$shards.part" "$shards"
  fi
  train=()
  for shard in "$shards"/data[0-9][0-9].json; do
    [[ $shard == */data00.json ]] || train+=("$shard")
  done
  if [[ ! -f $shards/data00.json || ${#train[@]} == 0 ]]; then
    echo "error: $shards should hold data00.json (validation) and data01.json ... (train)" >&2
    exit 1
  fi
  tokenize "$dir/val.bin" "$shards/data00.json"
  tokenize "$dir/train.bin" "${train[@]}"
fi
echo "TinyStories ($source): $dir/train.bin and $dir/val.bin"
