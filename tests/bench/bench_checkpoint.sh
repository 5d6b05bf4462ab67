#!/usr/bin/env bash
# Checkpoint cost for GPT-2 124M (parameters and both AdamW moments, fp32: about 1.5 GB) against
# the disk's sequential write bandwidth, all in one folder (default: a temporary one under
# /tmp; pass another to measure that disk). Trains one small CPU step so that the file is real.
# Usage: tests/bench/bench_checkpoint.sh [FOLDER]   (from the checkout)
set -euo pipefail
cd "$(dirname "$0")/../.."
base=${1:-/tmp}
train=${GPT_TRAIN_BIN:-build/launch/train}
data=$(realpath "${GPT_DATA_DIR:-$(dirname "$0")/../../data/sample}")/tinystories
work=$(mktemp -d "$base/bench-checkpoint.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "disk: dd of 2000 MiB into $base"
for flags in "oflag=direct" "conv=fdatasync"; do
  rate=$(dd if=/dev/zero of="$work/dd" bs=1M count=2000 $flags 2>&1 | tail -1 | sed 's/.*, //')
  echo "  dd $flags: $rate"
  rm -f "$work/dd"
done

args=(configs/gpt2-124m.toml --train.backend=cpu --train.precision=fp32 --train.seq_len=64 --train.micro_batch=1
  --train.batch_tokens=64 --eval.batches=1 --data.train="$data/TinyStories-train-sample.bin"
  --data.val="$data/TinyStories-valid-sample.bin" --run.dir="$work/run")
echo "GPT-2 124M, one CPU step, then the checkpoint (written twice: the first touches fresh memory):"
"$train" "${args[@]}" --train.max_steps=1 | grep '^checkpoint'
"$train" "${args[@]}" --train.max_steps=2 --resume | grep -E '^(checkpoint|resumed)'
# Another step to train, so that the resume reads the file (at max_steps it would stop at once).
echo "reading it back (seal and checksum verified):"
"$train" "${args[@]}" --train.max_steps=3 --resume | grep '^resumed'
