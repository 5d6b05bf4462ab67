#!/usr/bin/env bash
# Sets up, builds, turns the TinyStories sample text into GPT-2 tokens with `prepare`, and trains
# the tiny config on them (about a minute of training on 2 cores), printing the loss as it
# falls. The sample is the repository's data/sample unless GPT_DATA_DIR names another copy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
data="${GPT_DATA_DIR:-$(pwd)/data/sample}/tinystories"
tokens="$(pwd)/build/tinystories"
mkdir -p "$tokens"
start=$SECONDS
./build/launch/prepare --input "$data/TinyStories-train-sample.txt" --output "$tokens/train.bin"
./build/launch/prepare --input "$data/TinyStories-valid-sample.txt" --output "$tokens/val.bin"
./build/launch/train configs/tiny.toml --data.train="$tokens/train.bin" --data.val="$tokens/val.bin" "$@"
echo "quickstart: tokenized and trained in $((SECONDS - start)) s"
