#!/usr/bin/env bash
# Sets up, builds, and trains the tiny config on the TinyStories sample (about a minute on 2
# cores), printing the loss as it falls. The sample lives in ../shared/data unless GPT_DATA_DIR
# says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
data="${GPT_DATA_DIR:-$(pwd)/../shared/data}/tinystories"
exec ./build/launch/train configs/tiny.toml \
  --data.train="$data/TinyStories-train-sample.bin" --data.val="$data/TinyStories-valid-sample.bin" "$@"
