#!/usr/bin/env bash
# Sets up, builds, and trains the tiny config on the TinyStories sample (about a minute of
# training on 2 cores), printing the loss as it falls. The sample is the repository's
# data/sample unless GPT_DATA_DIR names another copy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
data="${GPT_DATA_DIR:-$(pwd)/data/sample}/tinystories"
start=$SECONDS
./build/launch/train configs/tiny.toml \
  --data.train="$data/TinyStories-train-sample.bin" --data.val="$data/TinyStories-valid-sample.bin" "$@"
echo "quickstart: trained in $((SECONDS - start)) s"
